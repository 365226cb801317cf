"""Fixtures of the dashboard tests: the counters start empty, in memory and in Redis."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis as redis_lib

import esi_tasks.dashboard
from esi.client import EsiClient, RetryPolicy
from esi.client.limits import RedisLimiter
from esi.dashboard.counters import recorder


@pytest.fixture(autouse=True)
def _quick_inspect(monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers on the local test broker answer in milliseconds; no test waits a whole second."""
    monkeypatch.setattr(esi_tasks.dashboard, "INSPECT_TIMEOUT", 0.3)


@pytest.fixture
def stats(redis_client: redis_lib.Redis) -> Iterator[redis_lib.Redis]:
    """The test Redis with no counts in it and none held by this process."""
    recorder.drop()
    redis_client.flushdb()
    yield redis_client
    recorder.drop()


@pytest.fixture
def esi_client(esi_sim: Any, stats: redis_lib.Redis) -> Iterator[EsiClient]:
    """The real client (shared limiter on the test Redis), one request per call."""
    c = EsiClient(limiter=RedisLimiter(), retry=RetryPolicy(max_retries=0))
    yield c
    c.transport.close()
