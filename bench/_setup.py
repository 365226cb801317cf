"""What every bench scenario module needs first: Django configured for the client, and a simulator."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: The start of a bench child process (``str.format`` with root, redis, url): Django configured for
#: the client, and ``rss()``, the process's resident memory in bytes.
CHILD_PRELUDE = """
import os, sys, time, json
sys.path.insert(0, {root!r})
def rss():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
import django
from django.conf import settings
settings.configure(INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "esi"],
    DATABASES={{"default": {{"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}}},
    ESI_REDIS_URL={redis!r}, ESI_API_URL={url!r}, ESI_DOWNTIME_START="", LOGGING_CONFIG=None)
django.setup()
"""


def redis_url() -> str:
    """The bench's Redis database (``bench/run.py`` passes it as ``ESI_REDIS_URL``)."""
    return os.environ.get("ESI_REDIS_URL", "redis://127.0.0.1:6379/14")


def configure_django(url: str, **settings_overrides: Any) -> None:
    """Configure Django once per process for the client, pointed at the simulator at ``url``."""
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "esi"],
            DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
            USE_TZ=True,
            ESI_REDIS_URL=redis_url(),
            ESI_DOWNTIME_START="",
            ESI_USER_CONTACT_EMAIL="bench@example.com",
            ESI_APP_NAME="django-esi-bench",
        )
        django.setup()
    settings.ESI_API_URL = url.rstrip("/") + "/"
    settings.ESI_SSO_BASE_URL = url.rstrip("/")
    for name, value in settings_overrides.items():
        setattr(settings, name, value)


@contextmanager
def simulator(url: str | None) -> Iterator[str]:
    """The simulator at ``url``, or one started (and stopped) here when ``url`` is None."""
    if url is not None:
        yield url
        return
    from esi.testing import start_simulator

    with start_simulator() as handle:
        yield handle.url
