"""Shared rate-limit and error-limit guard (interface stub; the rate-limit issue fills it in).

The client calls :meth:`Limiter.acquire` before sending a request and :meth:`Limiter.settle`
with the response's status and headers after it. Both raise nothing but the limit errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RateLimitGroup:
    """An operation's ``x-rate-limit`` from the spec: ``{group, max-tokens, window-size}``."""

    name: str
    max_tokens: int
    window_seconds: float


@dataclass
class Reservation:
    """What :meth:`Limiter.acquire` reserved for one request, handed back to :meth:`Limiter.settle`."""

    group: RateLimitGroup | None
    identity: str  # "app" for public calls, the character id for authenticated ones
    cost: int = 0


class Limiter:
    """Shared view of ESI's budgets (stub: lets everything through, records nothing)."""

    def acquire(self, group: RateLimitGroup | None, identity: str) -> Reservation:
        """Reserve budget for one request, or raise ``EsiRateLimited``/``EsiErrorLimited`` without I/O to ESI."""
        return Reservation(group=group, identity=identity)

    def settle(self, reservation: Reservation, status: int, headers: Mapping[str, str]) -> None:
        """Record what the response says about the budgets (status class cost, X-Ratelimit-*, X-ESI-Error-Limit-*)."""

    def snapshot(self) -> dict[str, Any]:
        """Every group's and the error limit's budget and reset time."""
        return {}
