"""Settings of the django-esi example project.

Everything can be changed from the environment, so the same project runs the demo, the smoke
test and a quick try against CCP's servers:

- ``DATABASE_URL``: PostgreSQL (or any dj-database-url URL); SQLite in ``example_project/`` if unset.
- ``REDIS_URL``: Redis for django-esi (cache, limits, locks) and Celery (broker and results).
- ``ESI_API_URL`` / ``ESI_SSO_BASE_URL``: the local ESI + SSO simulator (``ESI_SIMULATOR_URL``,
  default ``http://127.0.0.1:8089``, or ``DEMO_SIM_PORT``'s port) unless set.
- ``ESI_SSO_CLIENT_ID`` / ``ESI_SSO_CLIENT_SECRET`` / ``ESI_SSO_CALLBACK_URL``: demo values unless
  set; set one to an empty string to see ``manage.py check`` report it.
- ``DJANGO_DEBUG`` (``1``/``0``, default ``0``: error pages never show settings or variables),
  ``DJANGO_SECRET_KEY``, ``DJANGO_ALLOWED_HOSTS``,
  ``ESI_LOG_LEVEL`` (default ``INFO``).
"""

import os
from pathlib import Path

import dj_database_url

from esi_tasks.queues import CELERY_SETTINGS as ESI_CELERY_SETTINGS

BASE_DIR = Path(__file__).resolve().parent.parent

# scripts/demo's ports, so manage.py in a second terminal finds the running demo with the same DEMO_*.
DEMO_PORT = os.environ.get("DEMO_PORT", "8000")
SIMULATOR_URL = os.environ.get("ESI_SIMULATOR_URL", f"http://127.0.0.1:{os.environ.get('DEMO_SIM_PORT', '8089')}")
USES_SIMULATOR = "ESI_API_URL" not in os.environ


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in ("1", "true", "yes", "on")


SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-project-only-not-secret")
DEBUG = _flag("DJANGO_DEBUG", False)
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_celery_beat",
    "esi",
    "esi_tasks",
    "dashboard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "example_project.urls"
WSGI_APPLICATION = "example_project.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}", conn_max_age=60
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "static"
LOGIN_URL = "admin:login"
LOGIN_REDIRECT_URL = "dashboard:index"

# --- django-esi -------------------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
ESI_REDIS_URL = REDIS_URL

ESI_API_URL = os.environ.get("ESI_API_URL", SIMULATOR_URL + "/")
ESI_SSO_BASE_URL = os.environ.get("ESI_SSO_BASE_URL", SIMULATOR_URL)
if "ESI_DOWNTIME_START" in os.environ:
    ESI_DOWNTIME_START = os.environ["ESI_DOWNTIME_START"]
elif USES_SIMULATOR:
    ESI_DOWNTIME_START = ""  # the simulator has no daily downtime unless told to

ESI_SSO_CLIENT_ID = os.environ.get("ESI_SSO_CLIENT_ID", "example-project-client")
ESI_SSO_CLIENT_SECRET = os.environ.get("ESI_SSO_CLIENT_SECRET", "example-project-secret")
ESI_SSO_CALLBACK_URL = os.environ.get("ESI_SSO_CALLBACK_URL", f"http://127.0.0.1:{DEMO_PORT}/sso/callback")
ESI_USER_CONTACT_EMAIL = os.environ.get("ESI_USER_CONTACT_EMAIL", "example-project@example.com")
ESI_APP_NAME = "django-esi-example"

# --- Celery (read by example_project/celery.py through the CELERY_ namespace) ----------------
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Token refreshes on their own queue, ahead of bulk fetches: run workers with -Q esi_tokens,esi,celery
CELERY_TASK_ROUTES = ESI_CELERY_SETTINGS["task_routes"]
CELERY_BROKER_TRANSPORT_OPTIONS = ESI_CELERY_SETTINGS["broker_transport_options"]
CELERY_WORKER_PREFETCH_MULTIPLIER = ESI_CELERY_SETTINGS["worker_prefetch_multiplier"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "esi": {"handlers": ["console"], "level": os.environ.get("ESI_LOG_LEVEL", "INFO")},
        "esi_tasks": {"handlers": ["console"], "level": os.environ.get("ESI_LOG_LEVEL", "INFO")},
    },
}
