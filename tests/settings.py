"""Settings for the test suite: SQLite by default, PostgreSQL when DATABASE_URL is set.

Redis: ``ESI_TEST_REDIS_URL`` (default db 15) is used for the ESI cache/limits/locks and as the
Celery broker and result backend, so a test run never touches a developer's data.
"""

import os

import dj_database_url

SECRET_KEY = "tests-only-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ALLOWED_HOSTS = ["*"]

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
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "tests.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
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
STATIC_URL = "/static/"

_sqlite = "sqlite:///" + os.path.join(os.path.dirname(__file__), "test.sqlite3")
DATABASES = {"default": dj_database_url.parse(os.environ.get("DATABASE_URL") or _sqlite)}
DATABASES["default"].setdefault("TEST", {})
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # A file, not :memory:, so that real Celery workers in other threads/processes see the data.
    DATABASES["default"]["TEST"]["NAME"] = os.path.join(os.path.dirname(__file__), f"test-{os.getpid()}.sqlite3")

_xdist_urls = os.environ.get("ESI_TEST_XDIST_REDIS_URLS", "").split()  # tests/conftest.py, under -n N
_xdist_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if _xdist_urls and _xdist_worker.startswith("gw"):
    # This worker's own server; exported, so the workers, beats and projects a test starts use it too.
    os.environ["ESI_TEST_REDIS_URL"] = _xdist_urls[int(_xdist_worker[2:]) % len(_xdist_urls)]
    del os.environ["ESI_TEST_XDIST_REDIS_URLS"]  # a subprocess keeps the URL it is given
ESI_TEST_REDIS_URL = os.environ.get("ESI_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
ESI_REDIS_URL = ESI_TEST_REDIS_URL
CELERY_BROKER_URL = ESI_TEST_REDIS_URL
CELERY_RESULT_BACKEND = ESI_TEST_REDIS_URL

ESI_SSO_CLIENT_ID = "test-client-id"
ESI_SSO_CLIENT_SECRET = "test-client-secret"
ESI_SSO_CALLBACK_URL = "http://testserver/sso/callback"
ESI_USER_CONTACT_EMAIL = "tests@example.com"
ESI_APP_NAME = "django-esi-tests"
ESI_DOWNTIME_START = ""  # tests must not pause at 11:00 UTC; downtime tests switch it on

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"null": {"class": "logging.NullHandler"}},
    "root": {"handlers": ["null"], "level": "DEBUG"},
}
