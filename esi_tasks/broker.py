"""A Celery broker or result backend that does not answer, told the same way everywhere.

Commands (``esi_fetch --enqueue``, ``esi_refresh_tokens --enqueue``) and the admin's *Run now*
send with :data:`QUICK_RETRY` and catch :data:`BROKER_ERRORS`, so a broker outage is one clear
line or admin message within a second or two, not a traceback or a 500 page after many retries.
"""

from __future__ import annotations

import kombu.exceptions
import redis

from esi.exceptions import RedisUnavailable

__all__ = ["BROKER_ERRORS", "QUICK_RETRY", "broker_problem"]

#: What kombu (publishing) and the Redis result backend (``.get()``) raise when they get no answer.
#: ``RedisUnavailable``: what the ESI tasks' ``apply_async`` makes of these.
BROKER_ERRORS: tuple[type[BaseException], ...] = (kombu.exceptions.OperationalError, redis.RedisError, RedisUnavailable)

#: ``apply_async(retry_policy=...)`` for a person waiting: one quick retry, then the error.
QUICK_RETRY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.5, "interval_max": 0.5}


def broker_problem(exc: BaseException) -> str:
    """``The Celery broker (CELERY_BROKER_URL) does not answer (...); start it, ...``."""
    if isinstance(exc, RedisUnavailable) and isinstance(exc.__cause__, BROKER_ERRORS):
        exc = exc.__cause__  # said once, about the broker's own error
    detail = str(exc).splitlines()[0] if str(exc) else ""
    return (
        f"The Celery broker or result backend (CELERY_BROKER_URL, CELERY_RESULT_BACKEND) does not answer "
        f"({type(exc).__name__}{': ' + detail if detail else ''}); start it, or fix those settings, and try again."
    )
