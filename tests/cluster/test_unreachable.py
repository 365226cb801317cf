"""A Redis Cluster that does not answer ends in the documented errors, never a raw redis-py one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from esi.client import EsiClient
from esi.client.limits import RedisLimiter
from esi.exceptions import RedisUnavailable
from esi.redis_pool import REDIS_ERRORS, get_redis, reset_redis
from esi_tasks import dedup, errors_memory
from tests.cluster.servers import free_port

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def dead_cluster(settings: Any) -> Iterator[None]:
    settings.ESI_REDIS_URL = f"redis+cluster://127.0.0.1:{free_port(bus=True)}"
    settings.ESI_REDIS_RETRIES = 0
    reset_redis()
    yield
    reset_redis()


def test_building_the_client_fails_with_a_redis_error_and_is_tried_again(dead_cluster: None) -> None:
    for _ in range(2):  # not cached: the next call asks the nodes again
        with pytest.raises(REDIS_ERRORS, match="no node of the Redis Cluster"):
            get_redis()


def test_a_call_is_redis_unavailable_and_nothing_is_sent(dead_cluster: None, esi_sim: Any) -> None:
    with pytest.raises(RedisUnavailable, match="nothing was sent to ESI"):
        EsiClient().call("GetStatus")
    assert esi_sim.stats()["total"] == 0
    with pytest.raises(RedisUnavailable, match="reading ESI's limits"):
        RedisLimiter().snapshot()


def test_bookkeeping_is_skipped(dead_cluster: None) -> None:
    key = dedup.queued_key("x")
    assert dedup.claim(key, "task-1", 30) is None  # not taken: sent unshared
    assert dedup.extend(key, "task-1", 30) is False and dedup.release(key, "task-1") is False
    assert dedup.holder(key) is None
    assert errors_memory.recall("GetStatus", {}, None) is None
