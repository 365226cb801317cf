"""Fixtures of the limiter tests: a fresh Limiter on the test Redis, and a real client using it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis as redis_lib

from esi.client import EsiClient, RetryPolicy
from esi.client.limits import RedisLimiter as Limiter
from esi.client.limits import reset_limiter
from tests.servers import start_redis_server


@pytest.fixture
def limiter(redis_client: redis_lib.Redis) -> Iterator[Limiter]:
    """A Limiter of its own (fresh local state) on the flushed test database."""
    lim = Limiter()
    yield lim
    lim.close()
    reset_limiter()


@pytest.fixture
def client(esi_sim: Any, limiter: Limiter) -> Iterator[EsiClient]:
    """The real client with the real limiter; no server-error retries (one request per call)."""
    c = EsiClient(limiter=limiter, retry=RetryPolicy(max_retries=0))
    yield c
    c.transport.close()


@pytest.fixture(scope="module")
def private_redis() -> Iterator[redis_lib.Redis]:
    """A redis-server of this test module alone (its ``INFO commandstats`` count only our commands)."""
    url, server = start_redis_server()
    client = redis_lib.Redis.from_url(url)
    try:
        yield client
    finally:
        client.close()
        server.terminate()
        server.wait(10)


def commandstats(r: redis_lib.Redis) -> dict[str, int]:
    """Calls per command so far (``INFO commandstats``), e.g. ``{"get": 3, "evalsha": 8}``."""
    return {name[len("cmdstat_") :]: int(v["calls"]) for name, v in r.info("commandstats").items()}
