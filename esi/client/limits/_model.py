"""The limiter's public face: what a request reserves, the :class:`Limiter` protocol, :class:`NullLimiter`.

The client calls :meth:`Limiter.acquire` before each request and :meth:`Limiter.settle` with
the answer's status and headers after it (status ``0`` when no answer came). The ``*_in``
forms let a Redis-backed limiter put its script in the same :class:`RoundTrip` as the response
cache's read or write, so an uncached call costs two Redis round trips in all; a limiter
without Redis inherits forms that simply run at the right moment.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import redis

from esi.dashboard import counters
from esi.exceptions import EsiError

__all__ = ["Limiter", "LowerCaseHeaders", "NullLimiter", "Pending", "RateLimitGroup", "Reservation", "RoundTrip"]


class LowerCaseHeaders(dict[str, str]):
    """Response headers whose names are lower-case already (the transport's): :meth:`Limiter.settle`
    reads them as they are instead of lower-casing a copy."""

    __slots__ = ()


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
    cost: int = 0  # tokens reserved in the group's bucket
    id: str | None = field(default=None, repr=False)  # the bucket entry or error-limit unit; None: nothing booked


class RoundTrip:
    """Redis commands sent together in one round trip (a non-transactional redis-py pipeline; on
    Redis Cluster each command goes to its own master, the scripts' keys sharing one slot).

    Results are read after :meth:`run`; a failed command's result is its exception (so a
    script Redis forgot can be run again by whoever queued it).
    """

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._pipe = client.pipeline(transaction=False)
        self._count = 0
        self._after: list[Callable[[list[Any]], None]] = []
        self._results: list[Any] = []

    def shares(self, client: redis.Redis) -> bool:
        """Whether ``client`` talks to the same Redis through the same pool as this round trip."""
        if client is self.client:
            return True
        pool = getattr(client, "connection_pool", None)  # a RedisCluster has one pool per node
        return pool is not None and pool is getattr(self.client, "connection_pool", None)

    def add(self, command: str, *args: Any, **kwargs: Any) -> int:
        """Queue ``client.<command>(*args, **kwargs)``; -> the index of its result."""
        getattr(self._pipe, command)(*args, **kwargs)
        self._count += 1
        return self._count - 1

    def then(self, check: Callable[[list[Any]], None]) -> None:
        """Call ``check(results)`` once the round trip is done."""
        self._after.append(check)

    def run(self) -> list[Any]:
        """Send everything queued (nothing when empty); raises redis-py's connection errors."""
        if self._count:
            if counters.recorder.due():  # the dashboard's counts ride along (esi.dashboard.counters)
                counters.recorder.ride(self._pipe)
            self._results = list(self._pipe.execute(raise_on_error=False))
        for check in self._after:
            check(self._results)
        return self._results

    def result(self, index: int) -> Any:
        return self._results[index]


class Pending:
    """An acquire whose verdict is read after its round trip: :meth:`take` it or :meth:`cancel` it."""

    __slots__ = ("_outcome", "_release", "_resolve")

    def __init__(
        self, resolve: Callable[[], Reservation], release: Callable[[Reservation], None] | None = None
    ) -> None:
        self._resolve = resolve
        self._release = release  # None: nothing was booked yet, so cancelling costs nothing
        self._outcome: tuple[Reservation | None, EsiError | None] | None = None

    def take(self) -> Reservation:
        """The reservation, or the limit error (``EsiLimited``, ``RedisUnavailable``)."""
        outcome = self._outcome
        if outcome is None:
            try:
                outcome = (self._resolve(), None)
            except EsiError as exc:
                outcome = (None, exc)
            self._outcome = outcome
        if outcome[1] is not None:
            raise outcome[1]
        assert outcome[0] is not None
        return outcome[0]

    def cancel(self) -> None:
        """The request will not be sent (the cache answered): give back whatever was booked."""
        if self._release is None:
            return
        try:
            reservation = self.take()
        except EsiError:
            return
        self._release(reservation)


class Limiter(Protocol):
    """What the client needs of a limiter; see ``docs/limits.md``.

    Implementations: :class:`~esi.client.limits.RedisLimiter` (the shared one) and
    :class:`NullLimiter`. A subclass needs only :meth:`acquire` and :meth:`settle`.
    """

    def acquire(self, group: RateLimitGroup | None, identity: str) -> Reservation:
        """Reserve budget for one request, or raise ``EsiLimited`` without I/O to ESI."""
        ...

    def settle(self, reservation: Reservation, status: int, headers: Mapping[str, str]) -> None:
        """Record what the answer says about the budgets (``status`` 0: no answer came)."""
        ...

    def release(self, reservation: Reservation) -> None:
        """Give a reservation back unused (the request was never sent)."""
        self.settle(reservation, 1, {})

    def acquire_in(self, trip: RoundTrip, group: RateLimitGroup | None, identity: str) -> Pending:
        """:meth:`acquire` as part of ``trip``; by default it runs on its own when taken."""
        return Pending(lambda: self.acquire(group, identity))

    def settle_in(self, trip: RoundTrip, reservation: Reservation, status: int, headers: Mapping[str, str]) -> None:
        """:meth:`settle` as part of ``trip``; by default at once."""
        self.settle(reservation, status, headers)

    def snapshot(self) -> dict[str, Any]:
        """Every budget and reset time (``docs/limits.md``); by default: nothing is kept."""
        return {"enabled": False, "error_limit": None, "downtime": None, "groups": []}

    def clear(self) -> int:
        """Forget every recorded budget and pause. -> keys deleted."""
        return 0

    def flush(self) -> None:
        """Wait until every settle is recorded (settles are synchronous: nothing to wait for)."""
        return None

    def close(self) -> None:
        """Give back what this process holds (nothing: every reservation is settled or lapses)."""
        return None


class NullLimiter(Limiter):
    """Admits everything and records nothing (one-off scripts; tests of the client alone)."""

    def acquire(self, group: RateLimitGroup | None, identity: str) -> Reservation:
        return Reservation(group, identity)

    def settle(self, reservation: Reservation, status: int, headers: Mapping[str, str]) -> None:
        return None
