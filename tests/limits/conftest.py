"""Fixtures of the limiter tests: a fresh Limiter on the test Redis, and a real client using it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis as redis_lib

from esi.client import EsiClient, RetryPolicy
from esi.client._limits import Limiter, reset_limiter


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
