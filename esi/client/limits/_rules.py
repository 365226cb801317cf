"""The rules of ESI's limits that need no Redis: costs, headers, settings, downtime, pauses."""

from __future__ import annotations

import datetime as dt
import math
import random
import re
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from functools import lru_cache

from esi.app_settings import esi_settings, snapshot
from esi.client._caps import note_capped
from esi.exceptions import EsiConfigurationError, EsiLimited

__all__ = [
    "ASSUMED_ERROR_LIMIT",
    "IN_FLIGHT_HOLD",
    "RESERVE_COST",
    "Config",
    "config",
    "cost_of",
    "downtime_remaining",
    "header_int",
    "header_num",
    "max_pause",
    "parse_limit",
    "pause_seconds",
    "request_lifetime",
    "retry_countdown",
    "threshold",
    "window_seconds",
]

#: Errors per window assumed before ESI has told us its limit (ESI's documented 100).
ASSUMED_ERROR_LIMIT = 100
#: Longest ``retry_after`` when only requests in flight hold a budget (they settle soon).
IN_FLIGHT_HOLD = 1.0
#: Tokens a request reserves before it is sent (the cost of a 2xx); see ``docs/limits.md``.
RESERVE_COST = 2

_WINDOW = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*\Z")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def cost_of(status: int) -> int:
    """Tokens a response costs in its rate-limit group, as ESI documents it."""
    if 200 <= status < 300:
        return 2
    if 300 <= status < 400:
        return 1
    if status == 429:
        return 0
    if 400 <= status < 500:
        return 5
    return 0


def parse_limit(value: str | None) -> tuple[int, float] | None:
    """``"150/15m"`` -> (150, 900.0); None when absent or unreadable."""
    if not value or "/" not in value:
        return None
    count, _, window = value.partition("/")
    seconds = window_seconds(window)
    if seconds is None or not count.strip().isdigit():
        return None
    return int(count), seconds


def window_seconds(text: str) -> float | None:
    """A window as ESI writes it (``"15m"``, ``"1h"``, ``"60"``) in seconds; None if unreadable.

    Shared by the ``X-Ratelimit-Limit`` header and the spec's ``x-rate-limit.window-size``.
    """
    match = _WINDOW.match(text)
    return float(match.group(1)) * _UNITS[match.group(2)] if match else None


def header_num(value: str | None) -> str:
    """A header's finite number for Lua, '' when absent or not a number."""
    if value is None:
        return ""
    try:
        number = float(value)
    except ValueError:
        return ""
    return repr(number) if math.isfinite(number) else ""


def header_int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


# --- pauses ESI asks for -------------------------------------------------------------------------


def max_pause() -> float:
    """``ESI_MAX_PAUSE``: the longest pause accepted from ESI, in seconds."""
    value = esi_settings.ESI_MAX_PAUSE
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0 or not math.isfinite(value):
        raise EsiConfigurationError(f"ESI_MAX_PAUSE must be a number of seconds > 0, e.g. 300; got {value!r}.")
    return float(value)


def pause_seconds(value: str | None, header: str = "Retry-After") -> float | None:
    """Seconds of a pause ESI asks for (``Retry-After``: seconds or an HTTP date; an error-limit
    reset), at most ``ESI_MAX_PAUSE``; None when absent or unreadable (NaN, negative, garbage).

    A capped value is logged once per process with what ESI sent: a bogus ``1e9`` or ``inf``
    must not pause every worker for decades.
    """
    if value is None:
        return None
    text = value.strip()
    seconds: float | None
    try:
        seconds = float(text)
    except ValueError:
        seconds = _http_date_from_now(text)
    if seconds is None or math.isnan(seconds) or seconds < 0:
        return None
    cap = config().max_pause
    if seconds <= cap:
        return seconds
    note_capped("ESI_MAX_PAUSE", text, f"a pause (seconds) in {header} of")
    return cap


def _http_date_from_now(text: str) -> float | None:
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, when.timestamp() - time.time())


# --- settings ------------------------------------------------------------------------------------


@lru_cache(maxsize=16)
def _parse_downtime(start: str) -> int:
    """``"11:00"`` -> seconds after midnight UTC."""
    match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*", start)
    if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise EsiConfigurationError(
            f"ESI_DOWNTIME_START must be 'HH:MM' (UTC), e.g. '11:00', or '' to disable; got {start!r}."
        )
    return int(match.group(1)) * 3600 + int(match.group(2)) * 60


def downtime_remaining(now: dt.datetime | None = None) -> float:
    """Seconds left of the daily downtime window (``ESI_DOWNTIME_*``), 0.0 outside it."""
    start = esi_settings.ESI_DOWNTIME_START
    if not start:
        return 0.0
    duration = esi_settings.ESI_DOWNTIME_DURATION
    if not isinstance(duration, int) or duration < 0:
        raise EsiConfigurationError(f"ESI_DOWNTIME_DURATION must be a number of seconds >= 0; got {duration!r}.")
    now = now or dt.datetime.now(dt.UTC)
    of_day = now.hour * 3600 + now.minute * 60 + now.second + now.microsecond / 1e6
    since = (of_day - _parse_downtime(start)) % 86400
    return duration - since if since < duration else 0.0


def threshold() -> int:
    value = esi_settings.ESI_ERROR_LIMIT_THRESHOLD
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise EsiConfigurationError(f"ESI_ERROR_LIMIT_THRESHOLD must be an integer >= 0; got {value!r}.")
    return value


def request_lifetime() -> float:
    """The longest one request may take, plus 5 s: how long an error-limit unit or a reservation
    in flight counts as in flight if its process dies before settling it.

    A free pooled connection and the connect, then the whole exchange: ``ESI_REQUEST_DEADLINE``
    or the write and read timeouts, whichever is longer.
    """
    s = esi_settings
    exchange = max(float(s.ESI_REQUEST_DEADLINE), float(s.ESI_REQUESTS_WRITE_TIMEOUT + s.ESI_REQUESTS_READ_TIMEOUT))
    return float(s.ESI_REQUESTS_POOL_TIMEOUT + s.ESI_REQUESTS_CONNECT_TIMEOUT) + exchange + 5.0


@dataclass(frozen=True)
class Config:
    """The settings the limiter reads on every request, checked and read once per settings change."""

    enabled: bool
    threshold: int
    lifetime: float
    max_pause: float
    downtime: bool  # a daily downtime is configured (``downtime_remaining`` then reads its window)


@snapshot
def config() -> Config:
    """:class:`Config` as of now; rebuilt after ``setting_changed`` (``override_settings``) and fork."""
    s = esi_settings
    return Config(bool(s.ESI_RATE_LIMITING), threshold(), request_lifetime(), max_pause(), bool(s.ESI_DOWNTIME_START))


def retry_countdown(exc: EsiLimited, *, spread: float = 0.1, cap: float = 30.0) -> float:
    """Seconds to re-queue a task after ``exc``: ``retry_after`` plus a little jitter.

    Every task paused by the same limit would otherwise come back in the same instant; the
    jitter (up to ``spread`` of the wait, at most ``cap`` seconds, at least 0.1 s) spreads them.
    """
    wait = max(0.0, exc.retry_after)
    return wait + random.uniform(0.0, min(cap, max(0.1, wait * spread)))
