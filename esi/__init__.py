"""django-esi: EVE SSO, tokens and a fast, shared ESI client for Django and Celery."""

__version__ = "11.0.0.dev0"
__title__ = "django-esi"
