"""The response cache and the limiter through Sentinel (``ESI_REDIS_URL=redis+sentinel://...``)."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from esi.client import EsiClient, get_client
from esi.client.limits import RedisLimiter
from tests.cluster.servers import LocalSentinel

pytestmark = pytest.mark.timeout(60)


def test_the_client_talks_to_the_master_sentinel_names(on_sentinel: redis.Redis, redis_sentinel: LocalSentinel) -> None:
    on_sentinel.set("where", "here")
    direct = redis.Redis(port=redis_sentinel.master_port, db=2)
    assert direct.get("where") == b"here"


def test_cache_and_limiter_through_sentinel(on_sentinel: redis.Redis, esi_sim: Any) -> None:
    client = EsiClient()
    first = client.call("GetStatus")
    second = client.call("GetStatus")
    assert second.from_cache and second.data == first.data
    assert esi_sim.stats()["by_route"]["GetStatus"] == {"200": 1}
    assert len(list(on_sentinel.scan_iter(match="esi:cache:*"))) == 1
    (group,) = RedisLimiter().snapshot()["groups"]
    assert (group["group"], group["used"]) == ("status", 2)
    group_of = get_client().spec.get("GetStatus").rate_limit
    assert group_of is not None and group["max_tokens"] == group_of.max_tokens
