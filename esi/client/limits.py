"""Public face of the shared rate-limit / error-limit guard (``docs/limits.md``).

::

    from esi.client.limits import retry_countdown
    try:
        client.call("GetStatus")
    except EsiLimited as exc:               # EsiRateLimited or EsiErrorLimited
        task.retry(countdown=retry_countdown(exc))
"""

from esi.client._limits import (
    Limiter,
    RateLimitGroup,
    Reservation,
    cost_of,
    downtime_remaining,
    get_limiter,
    reset_limiter,
    retry_countdown,
)

__all__ = [
    "Limiter",
    "RateLimitGroup",
    "Reservation",
    "cost_of",
    "downtime_remaining",
    "get_limiter",
    "reset_limiter",
    "retry_countdown",
]
