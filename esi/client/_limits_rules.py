"""The rules of ESI's limits that need no Redis: costs, headers, settings, downtime, countdowns."""

from __future__ import annotations

import datetime as dt
import random
import re
from functools import lru_cache

from esi.app_settings import esi_settings
from esi.exceptions import EsiConfigurationError, EsiLimited

__all__ = [
    "ASSUMED_ERROR_LIMIT",
    "IN_FLIGHT_HOLD",
    "cost_of",
    "downtime_remaining",
    "header_int",
    "header_num",
    "parse_limit",
    "retry_countdown",
    "spare_lifetime",
    "threshold",
    "unit_params",
    "window_seconds",
]

#: Errors per window assumed before ESI has told us its limit (ESI's documented 100).
ASSUMED_ERROR_LIMIT = 100
#: Longest ``retry_after`` when only requests in flight hold the error budget (they end soon).
IN_FLIGHT_HOLD = 1.0

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
    """A header's number for Lua, '' when absent or not a number."""
    if value is None:
        return ""
    try:
        return repr(float(value))
    except ValueError:
        return ""


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


def unit_params() -> tuple[int, float, int]:
    return threshold(), IN_FLIGHT_HOLD, ASSUMED_ERROR_LIMIT


def header_int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def retry_countdown(exc: EsiLimited, *, spread: float = 0.1, cap: float = 30.0) -> float:
    """Seconds to re-queue a task after ``exc``: ``retry_after`` plus a little jitter.

    Every task paused by the same limit would otherwise come back in the same instant; the
    jitter (up to ``spread`` of the wait, at most ``cap`` seconds, at least 0.1 s) spreads them.
    """
    wait = max(0.0, exc.retry_after)
    return wait + random.uniform(0.0, min(cap, max(0.1, wait * spread)))


def spare_lifetime() -> float:
    """How long a spare reservation of a batch stays booked: longer than any request may take."""
    s = esi_settings
    timeouts = (
        s.ESI_REQUESTS_CONNECT_TIMEOUT
        + s.ESI_REQUESTS_READ_TIMEOUT
        + s.ESI_REQUESTS_WRITE_TIMEOUT
        + s.ESI_REQUESTS_POOL_TIMEOUT
    )
    return float(timeouts) + 5.0
