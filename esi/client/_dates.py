"""ESI compatibility dates: what a valid one is, and the one error for a bad one.

ESI answers every request as of the ``X-Compatibility-Date`` it carries. Valid dates run from
2020-01-01 (the oldest view, also what ESI serves without a date) to ESI's current date, which
rolls at 11:00 UTC; anything else is refused here, before any I/O.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from esi.exceptions import InvalidParameter

__all__ = ["OLDEST_DATE", "check_date", "newest_date"]

OLDEST_DATE = "2020-01-01"
_ROLLS_AT = dt.timedelta(hours=11)  # ESI's date changes at 11:00 UTC (daily downtime)


def newest_date(now: Callable[[], dt.datetime] | None = None) -> str:
    """ESI's current compatibility date: today (UTC) from 11:00, yesterday before."""
    moment = now() if now is not None else dt.datetime.now(dt.UTC)
    return (moment - _ROLLS_AT).date().isoformat()


def _valid() -> str:
    from esi.client._views import bundled_dates

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
