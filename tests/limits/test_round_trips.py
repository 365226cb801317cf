"""Redis round trips per call, counted on a real connection: ≤ 2 per uncached call, 1 per hit.

The count is taken where redis-py writes to the socket (one write per command or pipeline, each
answered before the next), cross-checked with the server's own ``INFO commandstats``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
import redis as redis_lib

from esi.client import EsiClient, RetryPolicy
from esi.client.limits import RedisLimiter

from .conftest import commandstats

_regions = itertools.count(10_000_001)


class CountingConnection(redis_lib.Connection):
    """A real connection that counts its writes: one per round trip."""

    writes = 0

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        type(self).writes += 1
        super().send_packed_command(command, check_health)


@pytest.fixture
def counted(private_redis: redis_lib.Redis, esi_sim: Any) -> Iterator[tuple[EsiClient, type[CountingConnection]]]:
    private_redis.flushdb()
    kwargs = private_redis.connection_pool.connection_kwargs
    pool = redis_lib.ConnectionPool(host=kwargs["host"], port=kwargs["port"], connection_class=CountingConnection)
    r = redis_lib.Redis(connection_pool=pool)
    client = EsiClient(limiter=RedisLimiter(lambda: r), redis_factory=lambda: r, retry=RetryPolicy(max_retries=0))
    client.call("GetMarketsRegionIdOrders", region_id=next(_regions))  # scripts loaded, pool warm
    client.call("GetAlliances", force_refresh=True)
    yield client, CountingConnection
    client.transport.close()
    pool.disconnect()


def trips(counter: type[CountingConnection], call: Any) -> int:
    before = counter.writes
    call()
    return counter.writes - before


def commands(r: redis_lib.Redis) -> dict[str, int]:
    stats = commandstats(r)
    return {name: stats.get(name, 0) for name in ("get", "set", "evalsha")}


def test_an_uncached_call_of_a_rate_limited_group_costs_two_round_trips(counted: Any, private_redis: Any) -> None:
    client, counter = counted
    before = commands(private_redis)
    n = trips(counter, lambda: client.call("GetMarketsRegionIdOrders", region_id=next(_regions)))
    assert n == 2  # GET + acquire, then settle + SET
    after = commands(private_redis)
    assert {k: after[k] - before[k] for k in after} == {"get": 1, "set": 1, "evalsha": 2}


def test_an_uncached_call_without_a_group_costs_two_round_trips(counted: Any) -> None:
    client, counter = counted
    assert trips(counter, lambda: client.call("GetAlliances", force_refresh=True)) == 2


def test_a_cache_hit_costs_one_round_trip(counted: Any, private_redis: Any) -> None:
    client, counter = counted
    region = next(_regions)
    client.call("GetMarketsRegionIdOrders", region_id=region)
    before = commands(private_redis)
    assert trips(counter, lambda: client.call("GetMarketsRegionIdOrders", region_id=region)) == 1
    assert commands(private_redis)["evalsha"] == before["evalsha"]  # nothing reserved for a hit


def test_a_hit_on_an_entry_another_process_stored_gives_its_reservation_back(counted: Any, private_redis: Any) -> None:
    client, _counter = counted
    region = next(_regions)
    other = EsiClient(limiter=client.limits, redis_factory=lambda: private_redis)  # another process: its own hints
    other.call("GetMarketsRegionIdOrders", region_id=region)
    before = commands(private_redis)
    r = client.call("GetMarketsRegionIdOrders", region_id=region)
    assert r.from_cache
    assert commands(private_redis)["evalsha"] - before["evalsha"] == 2  # acquired with the read, given back
    row = next(g for g in client.limits.snapshot()["groups"] if g["group"] == "market-order")
    assert row["used"] == 2 * 2  # the warm-up and the other process: the hit spent nothing
    other.transport.close()


def test_a_call_with_the_cache_off_costs_two_round_trips(counted: Any, settings: Any) -> None:
    client, counter = counted
    settings.ESI_CACHE_RESPONSE = False
    client.refresh()
    assert trips(counter, lambda: client.call("GetStatus")) == 2  # acquire, settle


def test_a_revalidation_costs_two_round_trips(counted: Any) -> None:
    client, counter = counted
    client.call("GetStatus")
    n = trips(counter, lambda: client.call("GetStatus", force_refresh=True))
    assert n == 2  # GET + acquire, then settle + SET of the revalidated entry
