"""Fixtures of the client tests: a fresh EsiClient on the simulator whose backoff sleeps are recorded."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httpx
import pytest
import redis as redis_lib

from esi.client import EsiClient, Limiter, RateLimitGroup, RetryPolicy
from esi.client.limits import Reservation


class SimToken:
    """The token interface the client relies on (as esi.models.Token offers it), holding a real
    access token signed by the simulator's SSO."""

    def __init__(self, sim: Any, character_id: int, scopes: list[str]) -> None:
        sim.add_character(character_id)
        self.character_id = character_id
        self.scope_names = list(scopes)
        self._access = sim.issue_tokens(character_id, scopes)["access_token"]
        self.fetched = 0

    def valid_access_token(self) -> str:
        self.fetched += 1
        return self._access


class RecordingLimiter(Limiter):
    """A Limiter that lets everything through and records what the client reported to it."""

    def __init__(self, on_acquire: Callable[[int], None] | None = None) -> None:
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.acquired: list[tuple[str | None, str]] = []
        self.settled: list[int] = []
        self.on_acquire = on_acquire

    def acquire(self, group: RateLimitGroup | None, identity: str) -> Reservation:
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.acquired.append((group.name if group else None, identity))
            n = len(self.acquired)
        if self.on_acquire is not None:
            self.on_acquire(n)
        return Reservation(group=group, identity=identity)

    def settle(self, reservation: Reservation, status: int, headers: Mapping[str, str]) -> None:
        with self.lock:
            self.in_flight -= 1
            self.settled.append(status)


class CountingTransport(httpx.HTTPTransport):
    """A real httpx transport that counts the requests in flight at once (sent, body not yet read)."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            response = super().handle_request(request)
            response.read()  # the exchange ends with its body
            return response
        finally:
            with self.lock:
                self.in_flight -= 1


class CountingRedis:
    """Wraps the real redis client and counts the commands the cache sends."""

    def __init__(self, real: redis_lib.Redis) -> None:
        self.real = real
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.real, name)
        if callable(attr):

            def counted(*args: Any, **kwargs: Any) -> Any:
                self.calls.append(name)
                return attr(*args, **kwargs)

            return counted
        return attr


class LogRecords(logging.Handler):
    """What the ``esi`` loggers said at INFO and above: works with or without pytest's logging
    plugin (``caplog`` is gone under ``-p no:logging``)."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    @property
    def text(self) -> str:
        """Every record formatted (exception text included), one per line."""
        return "\n".join(self.format(r) for r in self.records)


@pytest.fixture
def esi_logs() -> Iterator[LogRecords]:
    logger = logging.getLogger("esi")
    handler, level = LogRecords(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def limiter() -> RecordingLimiter:
    return RecordingLimiter()


@pytest.fixture
def client(
    esi_sim: Any, redis_client: redis_lib.Redis, sleeps: list[float], limiter: RecordingLimiter
) -> Iterator[EsiClient]:
    c = EsiClient(limiter=limiter, retry=RetryPolicy(sleep=sleeps.append, rand=lambda: 0.0))
    yield c
    c.transport.close()


@pytest.fixture
def make_token(esi_sim: Any) -> Callable[..., SimToken]:
    def make(character_id: int, scopes: list[str]) -> SimToken:
        return SimToken(esi_sim, character_id, scopes)

    return make
