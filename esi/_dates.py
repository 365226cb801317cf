"""ESI compatibility dates: what a valid one is, and the one error for a bad one.

ESI answers every request as of the ``X-Compatibility-Date`` it carries. Valid dates run from
2020-01-01 (the oldest view, also what ESI serves without a date) to ESI's current date, which
rolls at 11:00 UTC; anything else is refused here, before any I/O. Outside :mod:`esi.client`
so that settings checks at start-up do not import the client (httpx, redis).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from esi.app_settings import esi_settings
from esi.exceptions import EsiConfigurationError, InvalidParameter

__all__ = ["DATA_DIR", "OLDEST_DATE", "bundled", "bundled_dates", "check_date", "default_date", "newest_date"]

OLDEST_DATE = "2020-01-01"
DATA_DIR = Path(__file__).resolve().parent / "data"
_ROLLS_AT = dt.timedelta(hours=11)  # ESI's date changes at 11:00 UTC (daily downtime)


@lru_cache(maxsize=1)
def bundled() -> dict[str, Path]:
    """Date -> file of every bundled view (``esi/data/openapi-<date>.json``), oldest first."""
    return {p.stem.removeprefix("openapi-"): p for p in sorted(DATA_DIR.glob("openapi-*.json"))}


def bundled_dates() -> tuple[str, ...]:
    """Dates of the bundled views, oldest first (they work offline)."""
    return tuple(bundled())


def newest_date(now: Callable[[], dt.datetime] | None = None) -> str:
    """ESI's current compatibility date: today (UTC) from 11:00, yesterday before."""
    moment = now() if now is not None else dt.datetime.now(dt.UTC)
    return (moment - _ROLLS_AT).date().isoformat()


def _valid() -> str:
    return (
        f"valid dates are {OLDEST_DATE} to {newest_date()} (ESI's date rolls at 11:00 UTC); "
        f"the bundled views are {', '.join(bundled_dates())}"
    )


def check_date(value: object, *, name: str = "compatibility_date") -> str:
    """``value`` (``'YYYY-MM-DD'`` or a ``datetime.date``) as ``YYYY-MM-DD``; InvalidParameter otherwise.

    The message says what is wrong, which dates are valid and which views work offline.
    """
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        text = value.isoformat()
    elif isinstance(value, str):
        text = value.strip()
        try:
            if len(text) != 10:
                raise ValueError(text)
            text = dt.date.fromisoformat(text).isoformat()
        except ValueError:
            raise InvalidParameter(
                f"{name} {value!r} is not a date; pass 'YYYY-MM-DD' or a datetime.date: {_valid()}.",
                parameter=name,
            ) from None
    else:
        raise InvalidParameter(
            f"{name} must be 'YYYY-MM-DD' or a datetime.date, not {type(value).__name__} {value!r}: {_valid()}.",
            parameter=name,
        )
    if text < OLDEST_DATE:
        raise InvalidParameter(
            f"{name} {text} is before {OLDEST_DATE}, ESI's oldest compatibility date: {_valid()}.",
            parameter=name,
        )
    if text > newest_date():
        raise InvalidParameter(f"{name} {text} is in the future for ESI, which refuses it: {_valid()}.", parameter=name)
    return text


def default_date() -> str:
    """``ESI_COMPATIBILITY_DATE`` as ``YYYY-MM-DD``; EsiConfigurationError when it is not a valid date."""
    try:
        return check_date(esi_settings.ESI_COMPATIBILITY_DATE, name="ESI_COMPATIBILITY_DATE")
    except InvalidParameter as exc:
        raise EsiConfigurationError(f"{exc} Fix the setting, or leave it unset for the bundled date.") from None
