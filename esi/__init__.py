"""django-esi: EVE SSO, tokens and a fast, shared ESI client for Django and Celery."""

__version__ = "10.1.0"
__title__ = "django-esi"
__url__ = "https://pypi.org/project/django-esi/"
