"""Test settings for the Alliance Auth apps' own suites: the site ``allianceauth start`` makes,
plus what the apps' own test settings (their ``testauth`` packages) set on top of it.

Copied next to ``local.py`` of a freshly generated site by ``compat/apps/run``. The apps under
test come from ``AA_TEST_APPS`` (space separated); Redis, for Django's cache, Celery's broker and
django-esi, from ``AA_TEST_REDIS_URL``.
"""

import os

from .local import *  # noqa: F403

_redis = os.environ.get("AA_TEST_REDIS_URL", "redis://127.0.0.1:6379/1")

INSTALLED_APPS += os.environ.get("AA_TEST_APPS", "").split()  # noqa: F405
SITE_URL = "https://www.example.com"
CSRF_TRUSTED_ORIGINS = [SITE_URL]
ALLOWED_HOSTS = ["www.example.com", "testserver"]
DEBUG = False
SECRET_KEY = "only-for-tests-" + "x" * 40

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.path.join(BASE_DIR, "test.sqlite3")}}  # noqa: F405
CACHES["default"]["LOCATION"] = _redis  # noqa: F405
BROKER_URL = _redis
CELERY_BROKER_URL = _redis
ESI_REDIS_URL = _redis  # read by the django-esi under test; django-esi 10 ignores it

ESI_SSO_CLIENT_ID = "dummy"
ESI_SSO_CLIENT_SECRET = "dummy"
ESI_SSO_CALLBACK_URL = f"{SITE_URL}/sso/callback"
ESI_USER_CONTACT_EMAIL = "info@example.com"

# aa-structures' test settings enable AA's Discord service; it needs these names.
DISCORD_GUILD_ID = ""
DISCORD_CALLBACK_URL = ""
DISCORD_APP_ID = ""
DISCORD_APP_SECRET = ""
DISCORD_BOT_TOKEN = "MYDUMMYTOKEN"
DISCORD_SYNC_NAMES = False

# As the apps' test settings: no log files, no analytics, plain static files.
LOGGING = None
STATICFILES_DIRS = []
ANALYTICS_DISABLED = True
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
