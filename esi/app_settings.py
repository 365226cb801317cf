"""Every ``ESI_*`` setting in one place: its default, its type and one line of doc.

Values are read from ``django.conf.settings`` at access time, never cached at import, so
``override_settings`` in tests and settings changed at runtime take effect at once::

    from esi.app_settings import esi_settings
    esi_settings.ESI_REQUESTS_READ_TIMEOUT   # -> 10 unless the project overrides it

A number may also be given as a string (``"5"``, as read from an environment variable); a value
of the wrong kind raises :class:`~esi.exceptions.EsiConfigurationError` naming the setting, the
value and the accepted form, when the app loads (every process: web, workers, beat) and when it
is read. The settings reference in the docs is checked against :data:`SETTINGS` by a test.

Code that reads several settings on every call keeps them in a :func:`snapshot`: built once,
then rebuilt only after an ``ESI_*`` setting changed (``setting_changed``, which
``override_settings`` sends), after ``fork`` or after :func:`forget`::

    @snapshot
    def config() -> ClientConfig:
        return ClientConfig(api_url=esi_settings.ESI_API_URL, ...)
"""

from __future__ import annotations

import datetime as dt
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.conf import settings as django_settings
from django.core.signals import setting_changed  # the same signal; django.test costs ~50 ms to import

import esi
from esi.exceptions import EsiConfigurationError

__all__ = ["SETTINGS", "Setting", "Snapshot", "esi_settings", "forget", "settings_generation", "snapshot", "user_agent"]

_UNSET: Any = object()


@dataclass(frozen=True)
class Setting:
    """One ``ESI_*`` setting: its default, the types it accepts and what it is for."""

    name: str
    default: Any
    types: tuple[type, ...]
    doc: str
    group: str = "optional"  # "required", "optional" (operations guide) or "extra"
    nullable: bool = False

    @property
    def accepted(self) -> str:
        """The accepted form in words, for error messages: ``a whole number (e.g. 5 or "5")``."""
        numeric = int in self.types or float in self.types
        if bool in self.types:
            form = "True or False"
        elif numeric and float in self.types:
            form = 'a number (e.g. 5, 2.5 or "5")'
        elif numeric:
            form = 'a whole number (e.g. 5 or "5")'
        elif dt.date in self.types:
            form = "a date (YYYY-MM-DD, or a datetime.date)"
        else:
            form = "a string"
        return f"{form} or None" if self.nullable else form

    def clean(self, value: Any) -> Any:
        """``value`` as the setting's type (numeric strings become numbers), or
        :class:`EsiConfigurationError` naming the setting, the value and the accepted form."""
        converted, problem = self.value_problem(value)
        if problem:
            raise EsiConfigurationError(" ".join(problem))
        return converted

    def value_problem(self, value: Any) -> tuple[Any, tuple[str, str] | None]:
        """``(cleaned value, None)``, or ``(value, (message, hint))`` when it is of no accepted kind."""
        if value is None and self.nullable:
            return None, None
        if isinstance(value, str) and bool not in self.types and (int in self.types or float in self.types):
            number = _number(value.strip(), float in self.types)
            value = value if number is None else number
        # bool is an int subclass: refuse True where a number is wanted, and 1 where a bool is.
        if (isinstance(value, bool) and bool not in self.types) or not isinstance(value, self.types):
            return value, (
                f"{self.name} is {value!r} ({type(value).__name__}); it must be {self.accepted}.",
                f"Set {self.name} to {self.accepted}; the default is {self.default!r}.",
            )
        return value, None


def _number(text: str, real: bool) -> int | float | None:
    """``"5"`` -> 5, ``"2.5"`` -> 2.5 (only when ``real``); ``None`` when ``text`` is no such number."""
    for kind in (int, float) if real else (int,):
        try:
            number = kind(text)
        except ValueError:
            continue
        return number if math.isfinite(number) else None
    return None


_BUNDLED_COMPATIBILITY_DATE = "2026-08-04"

SETTINGS: tuple[Setting, ...] = (
    # --- Required (operations guide) -------------------------------------------------------
    Setting("ESI_SSO_CALLBACK_URL", "", (str,), "Callback for your Eve Online SSO app. REQUIRED.", "required"),
    Setting("ESI_SSO_CLIENT_ID", "", (str,), "Client ID of your Eve Online SSO app. REQUIRED.", "required"),
    Setting("ESI_SSO_CLIENT_SECRET", "", (str,), "Client Secret of your Eve Online SSO app. REQUIRED.", "required"),
    # --- Optional (operations guide) -------------------------------------------------------
    Setting("ESI_ALWAYS_CREATE_TOKEN", False, (bool,), "Enable to force new token creation every callback."),
    Setting("ESI_CACHE_RESPONSE", True, (bool,), "Disable to stop caching endpoint responses."),
    Setting(
        "ESI_CONNECTION_POOL_KEEPALIVE_EXPIRY", 5, (int, float), "Time limit on idle keep-alive connections in seconds."
    ),
    Setting("ESI_CONNECTION_POOL_MAX_CONNECTIONS", 100, (int,), "Maximum number of allowable connections."),
    Setting("ESI_CONNECTION_POOL_MAX_KEEPALIVE", 20, (int,), "Number of allowable keep-alive connections."),
    Setting("ESI_REQUESTS_CONNECT_TIMEOUT", 5, (int, float), "Connect timeout in seconds for all requests to ESI."),
    Setting("ESI_REQUESTS_POOL_TIMEOUT", 5, (int, float), "Seconds to wait for a free pooled connection."),
    Setting(
        "ESI_REQUESTS_READ_TIMEOUT",
        10,
        (int, float),
        "Read timeout in seconds; at most 10, as ESI cuts requests to the game server off at 10 s.",
    ),
    Setting("ESI_REQUESTS_WRITE_TIMEOUT", 5, (int, float), "Write timeout in seconds for all requests to ESI."),
    Setting("ESI_SERVER_ERROR_MAX_RETRIES", 3, (int,), "Max retries on server errors (3 means at most 4 requests)."),
    Setting(
        "ESI_SERVER_ERROR_WAIT_EXPONENT",
        1,
        (int, float),
        "Base of the exponential backoff: the n-th retry waits EXPONENT * 2**n seconds (n from 0).",
    ),
    Setting(
        "ESI_USER_CONTACT_EMAIL",
        "",
        (str,),
        "Contact email address of the server owner, included in the User-Agent of every request.",
    ),
    # --- Extra (DESIGN.md and later features) ---------------------------------------------
    Setting(
        "ESI_API_URL", "https://esi.evetech.net/", (str,), "ESI base URL (point it at the simulator in tests).", "extra"
    ),
    Setting(
        "ESI_SSO_BASE_URL",
        "https://login.eveonline.com",
        (str,),
        "EVE SSO base URL (django-esi 10's form, ending in /v2/oauth, works too).",
        "extra",
    ),
    Setting(
        "ESI_SSO_LOGIN_URL",
        None,
        (str,),
        "SSO authorize URL, as in django-esi 10; None: ESI_SSO_BASE_URL's /v2/oauth/authorize/.",
        "extra",
        True,
    ),
    Setting(
        "ESI_CODE_EXCHANGE_URL",
        None,
        (str,),
        "SSO token URL (code exchange and refresh), as in django-esi 10; None: ESI_SSO_BASE_URL's /v2/oauth/token.",
        "extra",
        True,
    ),
    Setting(
        "ESI_COMPATIBILITY_DATE",
        _BUNDLED_COMPATIBILITY_DATE,
        (str, dt.date),
        "The default client's compatibility date (get_client() without one); defaults to the bundled view's.",
        "extra",
    ),
    Setting(
        "ESI_SPEC_FILE",
        None,
        (str,),
        "Path of an OpenAPI document for the default client (get_client() without a date) instead of its view.",
        "extra",
        True,
    ),
    Setting(
        "ESI_SPEC_CACHE_DIR",
        None,
        (str,),
        "Folder where fetched views (one per compatibility date) are kept for every worker; None: in Redis.",
        "extra",
        True,
    ),
    Setting(
        "ESI_REDIS_URL",
        "redis://127.0.0.1:6379/0",
        (str,),
        "Redis for cache, limits and locks: redis://, rediss://, unix://, a cluster as "
        "redis+cluster://host:port[,host:port...] or a Sentinel-managed master as "
        "redis+sentinel://host:port[,host:port...]/<service>[/<db>] (docs/redis.md).",
        "extra",
    ),
    Setting(
        "ESI_REDIS_SOCKET_TIMEOUT",
        5,
        (int, float),
        "Seconds a Redis command may take before it fails (a stalled Redis never hangs a worker).",
        "extra",
    ),
    Setting("ESI_REDIS_CONNECT_TIMEOUT", 2, (int, float), "Seconds to wait for a connection to Redis.", "extra"),
    Setting(
        "ESI_REDIS_RETRIES",
        3,
        (int,),
        "Retries of a Redis command after a connection error or timeout (exponential backoff).",
        "extra",
    ),
    Setting(
        "ESI_REDIS_RETRY_BACKOFF",
        0.25,
        (int, float),
        "Base of the Redis retry backoff: waits of BACKOFF * 2**n seconds, at most 8 * BACKOFF.",
        "extra",
    ),
    Setting(
        "ESI_REDIS_HEALTH_CHECK_INTERVAL",
        30,
        (int,),
        "Seconds a pooled Redis connection may sit idle before it is checked with PING before use.",
        "extra",
    ),
    Setting(
        "ESI_APP_NAME",
        "",
        (str,),
        "Application name for the User-Agent (falls back to the Django project's name).",
        "extra",
    ),
    Setting("ESI_APP_VERSION", "", (str,), "Application version for the User-Agent.", "extra"),
    Setting("ESI_APP_URL", "", (str,), "Application URL for the User-Agent.", "extra"),
    Setting(
        "ESI_ERROR_LIMIT_THRESHOLD",
        10,
        (int,),
        "Stop sending to ESI when this few errors are left in the error-limit window.",
        "extra",
    ),
    Setting("ESI_RATE_LIMITING", True, (bool,), "Keep a shared Redis view of ESI's rate and error limits.", "extra"),
    Setting(
        "ESI_DOWNTIME_START",
        "11:00",
        (str,),
        "Daily downtime start (UTC, HH:MM); calls pause as for an error limit. Empty to disable.",
        "extra",
    ),
    Setting("ESI_DOWNTIME_DURATION", 15 * 60, (int,), "Length of the daily downtime window in seconds.", "extra"),
    Setting(
        "ESI_MAX_PAUSE",
        300,
        (int, float),
        "Longest pause accepted from ESI (Retry-After, error-limit reset), in seconds; longer ones are capped.",
        "extra",
    ),
    Setting("ESI_PAGE_CONCURRENCY", 8, (int,), "Pages fetched at once for one X-Pages response.", "extra"),
    Setting(
        "ESI_MAX_IN_PROCESS_WAIT",
        5,
        (int, float),
        "Longest a Celery worker waits in place for ESI's Retry-After (seconds, in total per call); "
        "a longer wait ends the call with EsiRetryLater and the task re-queues with that countdown.",
        "extra",
    ),
    Setting(
        "ESI_TOKEN_REFRESH_MARGIN",
        60,
        (int, float),
        "Refresh an access token this many seconds before it expires.",
        "extra",
    ),
    Setting(
        "ESI_CALLBACK_REDIRECT_MAX_AGE",
        600,
        (int,),
        "Seconds an SSO login may take before its state is refused as expired.",
        "extra",
    ),
    Setting("ESI_JWKS_CACHE_TIMEOUT", 3600, (int,), "Seconds the SSO's signing keys are cached in Redis.", "extra"),
    Setting(
        "ESI_TOKEN_REFRESH_LOCK_TIMEOUT",
        60,
        (int, float),
        "Seconds a token's refresh lock lives; it is extended while a slow refresh still runs.",
        "extra",
    ),
    Setting(
        "ESI_ERROR_MEMORY_TIMEOUT",
        300,
        (int,),
        "Longest seconds a 403/404 for the same call is answered from the response cache (a negative entry "
        "that lives until ESI's Expires on the error, at most this long; 0: off).",
        "extra",
    ),
    Setting(
        "ESI_TOKEN_POOL_REFUSAL_TIMEOUT",
        3600,
        (int,),
        "Seconds a character ESI refused (403, e.g. lacking an in-game role) is skipped by the token pool for "
        "the same corporation and roles before it is tried again (docs/token-pools.md; 0: not remembered).",
        "extra",
    ),
    Setting(
        "ESI_TOKEN_VALIDATION_PERIOD",
        24 * 3600,
        (int,),
        "Every token is re-validated at SSO at least once in this many seconds by the refresh sweep.",
        "extra",
    ),
    Setting(
        "ESI_REFRESH_SWEEP_CONCURRENCY",
        20,
        (int,),
        "How many token refresh tasks the sweep keeps in flight at once.",
        "extra",
    ),
)

# --- Caps on what ESI sends (docs/security.md) --------------------------------------------
_CAPS: tuple[Setting, ...] = (
    Setting(
        "ESI_MAX_RESPONSE_BYTES",
        32 * 1024 * 1024,
        (int,),
        "Largest response body accepted from ESI, in bytes after decompression; a larger one raises "
        "EsiResponseTooLarge.",
        "extra",
    ),
    Setting(
        "ESI_REQUEST_DEADLINE",
        30,
        (int, float),
        "Longest time in seconds one request to ESI may take in total, body included (the timeouts "
        "above are per read); a slower answer raises EsiTimeout.",
        "extra",
    ),
    Setting(
        "ESI_MAX_PAGES",
        1000,
        (int,),
        "Most pages fetched for one call: more X-Pages raises EsiResponseTooLarge; cursor and from_id "
        "walks stop there.",
        "extra",
    ),
    Setting(
        "ESI_MAX_CACHE_SECONDS",
        30 * 24 * 3600,
        (int,),
        "Longest time in seconds a response is cached as fresh, whatever its Expires says (the "
        "longest cache age in ESI's spec is 30 days).",
        "extra",
    ),
)
SETTINGS = SETTINGS + _CAPS

# --- Refresh tokens at rest (docs/security.md) ----------------------------------------------
_ENCRYPTION: tuple[Setting, ...] = (
    Setting(
        "ESI_TOKEN_ENCRYPTION",
        True,
        (bool,),
        "Store refresh tokens encrypted (Fernet); plaintext rows written before stay readable until "
        "manage.py esi_encrypt_tokens (or their next refresh) encrypts them.",
        "extra",
    ),
    Setting(
        "ESI_TOKEN_ENCRYPTION_KEYS",
        (),
        (list, tuple),
        "Fernet keys for refresh tokens, newest first: the first encrypts, all decrypt (rotation). "
        "Empty: keys derived from SECRET_KEY and SECRET_KEY_FALLBACKS.",
        "extra",
    ),
)
SETTINGS = SETTINGS + _ENCRYPTION

# --- Operating: the dashboard's counters and /metrics (docs/operating.md) -----------------------
_OPERATING: tuple[Setting, ...] = (
    Setting(
        "ESI_STATS",
        True,
        (bool,),
        "Count every ESI call's outcome per minute in Redis (no round trip of its own) for the dashboard and /metrics.",
        "extra",
    ),
    Setting(
        "ESI_METRICS_TOKEN",
        "",
        (str,),
        "Bearer token a Prometheus scrape of the metrics URL must send; empty: no token is accepted.",
        "extra",
    ),
    Setting(
        "ESI_METRICS_ALLOWED_IPS",
        (),
        (list, tuple),
        "Addresses or networks (e.g. 10.0.0.0/8) allowed to read the metrics URL without a token; "
        "empty: none. With neither this nor ESI_METRICS_TOKEN the metrics URL answers 403.",
        "extra",
    ),
)
SETTINGS = SETTINGS + _OPERATING

# --- Task results (docs/scale.md) -----------------------------------------------------------
_TASK_RESULTS: tuple[Setting, ...] = (
    Setting(
        "ESI_TASK_STORE_SCHEDULED_RESULTS",
        False,
        (bool,),
        "Store the results of keep-fresh runs and of schedule runs sent by beat in Celery's result "
        "backend; off, they keep none (nobody waits for them, and they would pile up).",
        "extra",
    ),
    Setting(
        "ESI_TASK_RESULT_EXPIRES",
        3600,
        (int,),
        "Seconds the stored results of keep-fresh and scheduled runs live, when "
        "ESI_TASK_STORE_SCHEDULED_RESULTS is on (other results: Celery's result_expires).",
        "extra",
    ),
    Setting(
        "ESI_TASK_RESULT_MAX_BYTES",
        None,
        (int,),
        "Largest fetch_endpoint result, in bytes of JSON, stored in the result backend; a larger one "
        "fails the task with EsiResultTooLarge (the fetch itself happened and was announced). None: no cap.",
        "extra",
        nullable=True,
    ),
)
SETTINGS = SETTINGS + _TASK_RESULTS

# --- The change feed (docs/changes.md) -------------------------------------------------------
_CHANGES: tuple[Setting, ...] = (
    Setting(
        "ESI_CHANGE_DIFFS",
        (),
        (list, tuple, dict),
        "Operations whose endpoint_changed carries a diff of their list body (added, removed, changed "
        "items): operationIds, or a dict of operationId to the id field when the spec's is not the one "
        "wanted. Their previous body is kept in Redis; others keep only a hash.",
        "extra",
    ),
    Setting(
        "ESI_CHANGE_STATE_KEEP",
        3600,
        (int,),
        "Seconds the change feed keeps a resource's last hash (and previous body) after its cached copy "
        "expires; a later fetch finds nothing to compare with and is sent as first_seen.",
        "extra",
    ),
)
SETTINGS = SETTINGS + _CHANGES

_BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}


class EsiSettings:
    """Attribute access to the ``ESI_*`` settings, read from Django's settings every time."""

    def __getattr__(self, name: str) -> Any:
        try:
            setting = _BY_NAME[name]
        except KeyError:
            raise AttributeError(f"{name!r} is not an ESI setting; see esi.app_settings.SETTINGS") from None
        return setting.clean(getattr(django_settings, name, setting.default))

    def __dir__(self) -> list[str]:
        return sorted(_BY_NAME)

    @staticmethod
    def valid_or_none(name: str) -> Any:
        """The cleaned value of ``name``, or ``None`` when it is wrong (for checks, which report it)."""
        setting = _BY_NAME[name]
        value, problem = setting.value_problem(getattr(django_settings, name, setting.default))
        return None if problem else value

    @staticmethod
    def is_set(name: str) -> bool:
        """Whether the project sets ``name`` itself (rather than relying on the default)."""
        return hasattr(django_settings, name)

    @staticmethod
    def definition(name: str) -> Setting:
        return _BY_NAME[name]


esi_settings = EsiSettings()


def user_agent() -> str:
    """``AppName/1.0 (contact@example.com; +https://app.example) django-esi/11.0``."""
    name = esi_settings.ESI_APP_NAME
    if not name:
        module = getattr(django_settings, "SETTINGS_MODULE", "") or "django-app"
        name = module.split(".")[0]
    product = name.replace(" ", "-")
    if esi_settings.ESI_APP_VERSION:
        product += f"/{esi_settings.ESI_APP_VERSION}"
    contact = [c for c in (esi_settings.ESI_USER_CONTACT_EMAIL, esi_settings.ESI_APP_URL) if c]
    if esi_settings.ESI_APP_URL:
        contact[-1] = "+" + contact[-1]
    comment = f" ({'; '.join(contact)})" if contact else ""
    return f"{product}{comment} django-esi/{esi.__version__}"


# --- snapshots of settings, rebuilt after a change or a fork ----------------------------------

_T = TypeVar("_T")
_generation = 0


def _bump() -> None:
    global _generation
    _generation += 1


def _on_setting_changed(setting: str = "", **kwargs: Any) -> None:
    if setting.startswith("ESI_") or setting == "SETTINGS_MODULE":
        _bump()


setting_changed.connect(_on_setting_changed, dispatch_uid="esi.app_settings")
os.register_at_fork(after_in_child=_bump)  # a forked child must not reuse its parent's sockets


def settings_generation() -> int:
    """Bumped whenever an ``ESI_*`` setting changes through ``setting_changed``, after fork and by
    :func:`forget`: what is built from settings (snapshots, the HTTP pool) is built again."""
    return _generation


def forget() -> None:
    """Read every setting again on next use (after changing one by plain assignment)."""
    _bump()


class Snapshot(Generic[_T]):
    """``build()``'s result, kept until the :func:`settings_generation` changes."""

    __slots__ = ("_build", "_kept")

    def __init__(self, build: Callable[[], _T]) -> None:
        self._build = build
        self._kept: tuple[int, _T] | None = None

    def __repr__(self) -> str:
        return f"<snapshot of {getattr(self._build, '__qualname__', self._build)!r}>"

    def __call__(self) -> _T:
        kept = self._kept
        if kept is None or kept[0] != _generation:
            kept = self._kept = (_generation, self._build())
        return kept[1]


def snapshot(build: Callable[[], _T]) -> Snapshot[_T]:
    """A function returning ``build()``, built again only after a settings change or a fork."""
    return Snapshot(build)
