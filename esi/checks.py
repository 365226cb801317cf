"""Django system checks for the ``ESI_*`` settings (``python manage.py check``).

Ids: ``esi.E001``.. for errors, ``esi.W001``.. for warnings. Each message names the setting,
and its hint says how to fix it. Workers and WSGI servers never run checks, so
:func:`validate_settings` raises the value errors (types, ranges, URLs) when the app loads.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from typing import Any, cast
from urllib.parse import urlsplit

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register

from esi._dates import check_date
from esi.app_settings import SETTINGS, esi_settings
from esi.exceptions import EsiConfigurationError, EsiRequestError
from esi.redis_pool import parse_redis_url

REQUIRED_SSO_SETTINGS = ("ESI_SSO_CLIENT_ID", "ESI_SSO_CLIENT_SECRET", "ESI_SSO_CALLBACK_URL")
TIMEOUT_SETTINGS = (
    "ESI_REQUESTS_CONNECT_TIMEOUT",
    "ESI_REQUESTS_POOL_TIMEOUT",
    "ESI_REQUESTS_READ_TIMEOUT",
    "ESI_REQUESTS_WRITE_TIMEOUT",
    "ESI_CONNECTION_POOL_KEEPALIVE_EXPIRY",
)
NON_NEGATIVE_SETTINGS = (
    *TIMEOUT_SETTINGS,
    "ESI_SERVER_ERROR_MAX_RETRIES",
    "ESI_SERVER_ERROR_WAIT_EXPONENT",
    "ESI_ERROR_LIMIT_THRESHOLD",
    "ESI_DOWNTIME_DURATION",
    "ESI_TOKEN_REFRESH_MARGIN",
    "ESI_ERROR_MEMORY_TIMEOUT",
    "ESI_MAX_IN_PROCESS_WAIT",
)
POSITIVE_SETTINGS = (
    "ESI_CONNECTION_POOL_MAX_CONNECTIONS",
    "ESI_PAGE_CONCURRENCY",
    "ESI_CALLBACK_REDIRECT_MAX_AGE",
    "ESI_TOKEN_VALIDATION_PERIOD",
    "ESI_REFRESH_SWEEP_CONCURRENCY",
    # caps on what ESI sends (docs/security.md)
    "ESI_MAX_RESPONSE_BYTES",
    "ESI_REQUEST_DEADLINE",
    "ESI_MAX_PAGES",
    "ESI_MAX_CACHE_SECONDS",
    "ESI_MAX_PAUSE",
)
MAX_READ_TIMEOUT = 10


def validate_settings() -> None:
    """Raise :class:`EsiConfigurationError` listing every wrong ``ESI_*`` value (from ``ready()``).

    Messages silenced in ``SILENCED_SYSTEM_CHECKS`` are left out, as ``manage.py check`` does.
    """
    silenced = set(getattr(settings, "SILENCED_SYSTEM_CHECKS", ()))
    errors = [m for m in check_setting_values() if m.is_serious() and m.id not in silenced]
    if errors:
        lines = "\n".join(f"  {m.id}: {m.msg} {m.hint or ''}".rstrip() for m in errors)
        raise EsiConfigurationError(f"django-esi settings are wrong (fix them and restart):\n{lines}")


@register("esi")
def check_sso_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Missing SSO client settings: an error, or only a warning while ``DEBUG`` is on."""
    messages: list[CheckMessage] = []
    for number, name in enumerate(REQUIRED_SSO_SETTINGS, start=1):
        if getattr(settings, name, ""):
            continue
        kind = Warning if settings.DEBUG else Error
        prefix = "W" if settings.DEBUG else "E"
        messages.append(
            kind(
                f"{name} is not set; EVE SSO login and token refresh cannot work without it.",
                hint=f"Register an application at https://developers.eveonline.com and set {name} "
                "in your Django settings (it may stay empty while DEBUG is True).",
                id=f"esi.{prefix}00{number}",
            )
        )
    return messages


@register("esi")
def check_setting_values(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Types, ranges and URLs of every ``ESI_*`` setting the project sets."""
    messages: list[CheckMessage] = []
    for setting in SETTINGS:
        value, problem = setting.value_problem(getattr(settings, setting.name, setting.default))
        if problem:
            messages.append(Error(problem[0], hint=problem[1], id="esi.E010"))
            continue
        if value is None:
            continue
        number = cast(float, value)  # the range checks below only name numeric settings
        if setting.name in NON_NEGATIVE_SETTINGS and number < 0:
            messages.append(
                Error(
                    f"{setting.name} is {value!r}; it cannot be negative.",
                    hint=f"Use 0 or more; the default is {setting.default!r}.",
                    id="esi.E011",
                )
            )
        if setting.name in POSITIVE_SETTINGS and number < 1:
            messages.append(
                Error(
                    f"{setting.name} is {value!r}; it must be at least 1.",
                    hint=f"The default is {setting.default!r}.",
                    id="esi.E012",
                )
            )
    messages += _check_read_timeout()
    messages += _check_urls()
    messages += _check_misc()
    messages += _check_encryption_keys()
    messages += _check_metrics()
    return messages


def _check_metrics() -> list[CheckMessage]:
    """Every ``ESI_METRICS_ALLOWED_IPS`` entry is an address or a network (``docs/operating.md``)."""
    wrong = []
    for entry in esi_settings.valid_or_none("ESI_METRICS_ALLOWED_IPS") or ():
        try:
            ipaddress.ip_network(str(entry), strict=False)
        except ValueError:
            wrong.append(entry)
    if not wrong:
        return []
    return [
        Error(
            f"ESI_METRICS_ALLOWED_IPS has {', '.join(repr(w) for w in wrong)}, which is no IP address or network.",
            hint='Use addresses or networks such as "127.0.0.1" or "10.0.0.0/8".',
            id="esi.E021",
        )
    ]


def _check_encryption_keys() -> list[CheckMessage]:
    """Every ``ESI_TOKEN_ENCRYPTION_KEYS`` entry must be a Fernet key (docs/security.md)."""
    keys = esi_settings.ESI_TOKEN_ENCRYPTION_KEYS
    if not isinstance(keys, list | tuple):
        return []  # reported as a type error already
    bad = []
    for n, key in enumerate(keys):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            bad.append(n)
    if not bad:
        return []
    return [
        Error(
            f"ESI_TOKEN_ENCRYPTION_KEYS entries {bad} are not Fernet keys (32 url-safe base64-encoded bytes).",
            hint="Make one with: python manage.py esi_encrypt_tokens --generate-key",
            id="esi.E020",
        )
    ]


def _check_read_timeout() -> list[CheckMessage]:
    value = esi_settings.valid_or_none("ESI_REQUESTS_READ_TIMEOUT")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > MAX_READ_TIMEOUT:
        return [
            Error(
                f"ESI_REQUESTS_READ_TIMEOUT is {value!r} s; ESI cuts every request off at {MAX_READ_TIMEOUT} s.",
                hint=f"Set ESI_REQUESTS_READ_TIMEOUT to {MAX_READ_TIMEOUT} or less.",
                id="esi.E013",
            )
        ]
    return []


def _check_urls() -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    for name, schemes in (
        ("ESI_API_URL", ("http", "https")),
        ("ESI_SSO_BASE_URL", ("http", "https")),
    ):
        value = esi_settings.valid_or_none(name)
        if not isinstance(value, str):
            continue  # reported as a type error already
        parts = urlsplit(value)
        if parts.scheme not in schemes or (parts.scheme != "unix" and not parts.hostname):
            messages.append(
                Error(
                    f"{name} is {value!r}, which is not a valid {'/'.join(schemes)} URL.",
                    hint=f"Use a URL like {esi_settings.definition(name).default!r}.",
                    id="esi.E014",
                )
            )
    messages += _check_redis_url()
    callback = getattr(settings, "ESI_SSO_CALLBACK_URL", "")
    if isinstance(callback, str) and callback and urlsplit(callback).scheme not in ("http", "https"):
        messages.append(
            Error(
                f"ESI_SSO_CALLBACK_URL is {callback!r}; it must be the absolute http(s) URL registered at EVE SSO.",
                hint="For example https://example.com/sso/callback",
                id="esi.E015",
            )
        )
    return messages


def _check_redis_url() -> list[CheckMessage]:
    value = esi_settings.valid_or_none("ESI_REDIS_URL")
    if not isinstance(value, str):
        return []  # reported as a type error already
    try:
        parse_redis_url(value)
    except ValueError as exc:
        return [
            Error(
                f"ESI_REDIS_URL is not a usable Redis URL: {exc}.",  # no value: it may hold a password
                hint="Use redis://host:6379/0, redis+cluster://host:7000,host:7001 or "
                "redis+sentinel://host:26379/<service>/0 (see docs/redis.md).",
                id="esi.E014",
            )
        ]
    return []


def _check_misc() -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    if not esi_settings.valid_or_none("ESI_USER_CONTACT_EMAIL"):
        messages.append(
            Warning(
                "ESI_USER_CONTACT_EMAIL is not set; ESI asks every application to name a contact in its User-Agent.",
                hint="Set ESI_USER_CONTACT_EMAIL to an address CCP can reach you at.",
                id="esi.W010",
            )
        )
    date = esi_settings.valid_or_none("ESI_COMPATIBILITY_DATE")
    if date is not None:
        try:
            check_date(date, name="ESI_COMPATIBILITY_DATE")
        except EsiRequestError as exc:  # malformed, before 2020-01-01 or in the future: names the valid dates
            messages.append(
                Error(str(exc), hint="Leave it unset to use the date of the bundled OpenAPI document.", id="esi.E016")
            )
    downtime = esi_settings.valid_or_none("ESI_DOWNTIME_START")
    if isinstance(downtime, str) and downtime:
        try:
            dt.time.fromisoformat(downtime)
        except ValueError:
            messages.append(
                Error(
                    f"ESI_DOWNTIME_START is {downtime!r}; it must be a UTC time HH:MM, or empty to disable.",
                    hint="ESI's daily downtime starts at 11:00 UTC.",
                    id="esi.E017",
                )
            )
    return messages
