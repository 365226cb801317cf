"""Alliance Auth test settings: the project template's base settings plus every service app.

Written for this harness after upstream's ``tests/settings_all.py`` layout. Redis is
``AA_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/1``, as upstream), used for Django's
cache and as django-esi's ``ESI_REDIS_URL`` -- the one setting a real site adds for django-esi.
"""

import os

from allianceauth.project_template.project_name.settings.base import *  # noqa: F403
from allianceauth.project_template.project_name.settings.base import INSTALLED_APPS

REDIS_URL = os.environ.get("AA_TEST_REDIS_URL", "redis://127.0.0.1:6379/1")

CELERY_ALWAYS_EAGER = True  # run tasks locally

INSTALLED_APPS += [
    "allianceauth.eveonline.autogroups",
    "allianceauth.hrapplications",
    "allianceauth.timerboard",
    "allianceauth.srp",
    "allianceauth.optimer",
    "allianceauth.corputils",
    "allianceauth.fleetactivitytracking",
    "allianceauth.permissions_tool",
    "allianceauth.services.modules.mumble",
    "allianceauth.services.modules.discord",
    "allianceauth.services.modules.discourse",
    "allianceauth.services.modules.ips4",
    "allianceauth.services.modules.openfire",
    "allianceauth.services.modules.smf",
    "allianceauth.services.modules.phpbb3",
    "allianceauth.services.modules.xenforo",
    "allianceauth.services.modules.teamspeak3",
]

ROOT_URLCONF = "tests.urls"

CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"},
    }
}
BROKER_URL = REDIS_URL
ESI_REDIS_URL = REDIS_URL  # read by this django-esi; django-esi 10 ignores it

SITE_URL = "https://example.com"
CSRF_TRUSTED_ORIGINS = [SITE_URL]

# XenForo
XENFORO_ENDPOINT = "example.com/api.php"
XENFORO_DEFAULT_GROUP = 0
XENFORO_APIKEY = "yourapikey"

# Jabber / Openfire
JABBER_URL = "example.com"
JABBER_PORT = 5223
JABBER_SERVER = "example.com"
OPENFIRE_ADDRESS = "http://example.com:9090"
OPENFIRE_SECRET_KEY = "somekey"
BROADCAST_USER = "broadcast@" + JABBER_URL
BROADCAST_USER_PASSWORD = "somepassword"
BROADCAST_SERVICE_NAME = "broadcast"

# Mumble
MUMBLE_URL = "example.com"
MUMBLE_SERVER_ID = 1

# phpBB3, SMF
PHPBB3_URL = ""
SMF_URL = ""

# Teamspeak3
TEAMSPEAK3_SERVER_IP = "127.0.0.1"
TEAMSPEAK3_SERVER_PORT = 10011
TEAMSPEAK3_SERVERQUERY_USER = "serveradmin"
TEAMSPEAK3_SERVERQUERY_PASSWORD = "passwordhere"
TEAMSPEAK3_VIRTUAL_SERVER = 1
TEAMSPEAK3_PUBLIC_URL = "example.com"

# Discord
DISCORD_GUILD_ID = "0118999"
DISCORD_BOT_TOKEN = "bottoken"
DISCORD_INVITE_CODE = "invitecode"
DISCORD_APP_ID = "appid"
DISCORD_APP_SECRET = "secret"
DISCORD_CALLBACK_URL = "http://example.com/discord/callback"
DISCORD_SYNC_NAMES = False

# Discourse
DISCOURSE_URL = "https://example.com"
DISCOURSE_API_USERNAME = ""
DISCOURSE_API_KEY = ""
DISCOURSE_SSO_SECRET = "d836444a9e4084d5b224a60c208dce14"

# IPS4
IPS4_URL = "http://example.com/ips4"
IPS4_API_KEY = ""

# EVE SSO application (dummy values; tests never reach SSO)
ESI_SSO_CLIENT_ID = "dummy"
ESI_SSO_CLIENT_SECRET = "dummy"
ESI_SSO_CALLBACK_URL = "http://127.0.0.1:8000/sso/callback"
ESI_USER_CONTACT_EMAIL = "dummy@example.net"

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


LOGGING = None  # upstream's choice for tests

ALLIANCEAUTH_DASHBOARD_TASK_STATISTICS_DISABLED = True

# Tests render templates without running collectstatic: no manifest storage.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
