"""Shared rate-limit and error-limit guard: every process on every host stays inside ESI's limits.

::

    from esi.client.limits import retry_countdown
    try:
        client.call("GetStatus")
    except EsiLimited as exc:               # EsiRateLimited or EsiErrorLimited
        task.retry(countdown=retry_countdown(exc))

The package: :mod:`._model` (the :class:`Limiter` protocol, :class:`NullLimiter`, what a
request reserves), :mod:`._rules` (costs, headers, settings, pause caps: no Redis),
:mod:`._scripts` with ``acquire.lua``/``settle.lua``/``snapshot.lua`` (the Lua and its typed
arguments and results), and :mod:`._redis` (:class:`RedisLimiter`, redis-py ``Script`` on the
shared pool). See ``docs/limits.md``.
"""

from esi.client.limits._model import Limiter, NullLimiter, Pending, RateLimitGroup, Reservation, RoundTrip
from esi.client.limits._redis import RedisLimiter, get_limiter, reset_limiter
from esi.client.limits._rules import cost_of, downtime_remaining, pause_seconds, retry_countdown

__all__ = [
    "Limiter",
    "NullLimiter",
    "Pending",
    "RateLimitGroup",
    "RedisLimiter",
    "Reservation",
    "RoundTrip",
    "cost_of",
    "downtime_remaining",
    "get_limiter",
    "pause_seconds",
    "reset_limiter",
    "retry_countdown",
]
