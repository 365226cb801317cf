"""The limiter, the response cache, a refresh lock and ``fetch_endpoint`` through a worker on a
real 3-master Redis Cluster (``ESI_REDIS_URL=redis+cluster://...``)."""

from __future__ import annotations

import multiprocessing
import time
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker
from redis.cluster import RedisCluster

from esi.client import EsiClient, get_client
from esi.client.limits import RedisLimiter, RoundTrip
from esi.client.limits._scripts import KeySpace
from esi.exceptions import EsiNotFound
from esi.models import Token
from esi.redis_pool import get_redis, mget
from esi.tokens import token_lock
from esi_tasks import keep_fresh
from esi_tasks.dispatcher import DUE_KEY
from esi_tasks.tasks import fetch_endpoint
from tests.celery_app import app as test_app
from tests.cluster.servers import LocalCluster

pytestmark = pytest.mark.timeout(120)

STATUS = get_client().spec.get("GetStatus").rate_limit


def test_every_key_a_limiter_script_touches_is_in_one_slot(on_cluster: RedisCluster) -> None:
    keys = KeySpace()
    touched = [keys.err, keys.inflight, keys.groups, *keys.bucket("char-asset", "90000001")]
    assert len({on_cluster.keyslot(k) for k in touched}) == 1


def test_multi_key_reads_span_the_masters(on_cluster: RedisCluster, redis_cluster: LocalCluster) -> None:
    keys = [f"esi_tasks:affiliation:{n}" for n in range(30)]
    for n, key in enumerate(keys):
        on_cluster.set(key, n)
    assert all(redis_cluster.keys_per_master("esi_tasks:affiliation:*").values())  # spread out
    assert mget(on_cluster, [*keys, "missing"]) == [str(n).encode() for n in range(30)] + [None]
    assert len(list(on_cluster.scan_iter(match="esi_tasks:affiliation:*"))) == 30  # SCAN visits every master
    assert on_cluster.delete(*keys) == 30  # one DEL per slot (esi_claims --clear, limits clear)


def test_limiter_acquires_settles_and_snapshots(on_cluster: RedisCluster) -> None:
    assert STATUS is not None
    limiter = RedisLimiter()
    first = limiter.acquire(STATUS, "app")
    answer = {"x-ratelimit-remaining": "598", "x-ratelimit-used": "2", "x-ratelimit-limit": "600/15m"}
    limiter.settle(first, 200, answer)
    trip = RoundTrip(on_cluster)  # the cache read and the acquire in one pipeline, keys in two slots
    read = trip.add("get", "esi:cache:v2:GetStatus:-:nothing")
    pending = limiter.acquire_in(trip, STATUS, "app")
    trip.run()
    assert trip.result(read) is None
    second = pending.take()
    settle = RoundTrip(on_cluster)
    limiter.settle_in(settle, second, 304, {"x-ratelimit-remaining": "597", "x-ratelimit-used": "1"})
    settle.add("set", "esi:cache:v2:GetStatus:-:other", b"x", px=60_000)
    settle.run()
    (group,) = limiter.snapshot()["groups"]
    assert (group["group"], group["used"], group["remaining"]) == ("status", 3, 597)


def test_a_script_the_cluster_forgot_is_loaded_again(on_cluster: RedisCluster) -> None:
    assert STATUS is not None
    limiter = RedisLimiter()
    limiter.settle(limiter.acquire(STATUS, "app"), 200, {})
    on_cluster.script_flush()  # every master forgets the scripts (a restart, a failover)
    trip = RoundTrip(on_cluster)
    pending = limiter.acquire_in(trip, STATUS, "app")
    trip.run()
    limiter.settle(pending.take(), 200, {})
    assert limiter.snapshot()["groups"][0]["used"] == 4


def test_cache_hits_and_revalidates_across_masters(
    on_cluster: RedisCluster, redis_cluster: LocalCluster, esi_sim: Any
) -> None:
    esi_sim.configure_route("GetUniverseTypesTypeId", cache_seconds=3600)  # an hour: fresh whatever the load
    offset = [0.0]
    client = EsiClient(clock=lambda: time.time() + offset[0])
    ids = list(range(34, 64))
    first = [client.call("GetUniverseTypesTypeId", type_id=i) for i in ids]
    again = [client.call("GetUniverseTypesTypeId", type_id=i) for i in ids]
    assert all(r.from_cache for r in again) and [r.data for r in again] == [r.data for r in first]
    assert esi_sim.stats()["by_route"]["GetUniverseTypesTypeId"] == {"200": len(ids)}
    per_master = redis_cluster.keys_per_master("esi:cache:*")
    assert sum(per_master.values()) == len(ids) and all(n > 0 for n in per_master.values())
    offset[0] = 3601.0  # past Expires: revalidated with If-None-Match
    late = client.call("GetUniverseTypesTypeId", type_id=ids[0])
    assert late.not_modified and late.status == 304 and late.data == first[0].data
    assert esi_sim.stats()["by_route"]["GetUniverseTypesTypeId"] == {"200": len(ids), "304": 1}


def test_a_remembered_404_is_a_negative_entry_on_the_cluster(on_cluster: RedisCluster, esi_sim: Any) -> None:
    esi_sim.configure_route("GetCharactersDetail", status=404)
    client = EsiClient()
    for _ in range(3):
        with pytest.raises(EsiNotFound):
            client.call("GetCharactersDetail", character_id=90000001)
    assert esi_sim.stats()["by_route"]["GetCharactersDetail"] == {"404": 1}


@pytest.mark.django_db
def test_a_refresh_runs_under_its_lock_on_the_cluster(on_cluster: RedisCluster, make_token: Any, sso: Any) -> None:
    token = make_token(expired=True)
    held = token_lock(token.pk)
    assert held.acquire(blocking=False)
    other = token_lock(token.pk)
    assert not other.acquire(blocking=False)  # one holder across processes
    assert held.extend(5) and held.reacquire()
    held.release()
    before = sso.stats()["sso"].get("token_refresh_token", 0)
    token.valid_access_token()
    assert sso.stats()["sso"].get("token_refresh_token", 0) == before + 1
    assert Token.objects.get(pk=token.pk).access_token_expires.timestamp() > time.time()
    assert not on_cluster.exists(held.name)  # released after the refresh


@pytest.mark.django_db(transaction=True)
def test_fetch_endpoint_through_a_worker(on_cluster: RedisCluster, make_token: Any, sso: Any) -> None:
    token = make_token()
    with start_worker(
        test_app,
        pool="threads",
        concurrency=2,
        queues=["esi_tokens", "esi", "celery"],
        perform_ping_check=True,
        shutdown_timeout=30,
        loglevel="WARNING",
    ):
        status = fetch_endpoint.delay("GetStatus").get(timeout=30)
        assets = fetch_endpoint.delay("GetCharactersCharacterIdAssets", character_id=token.character_id)
        rows = assets.get(timeout=30)
        cached = fetch_endpoint.delay("GetStatus").get(timeout=30)
    assert isinstance(status, dict) and cached == status and isinstance(rows, list)
    routes = sso.stats()["by_route"]
    assert routes["GetStatus"] == {"200": 1} and routes["GetCharactersCharacterIdAssets"] == {"200": 1}
    assert list(on_cluster.scan_iter(match="esi_tasks:dedup:*")) == []  # every claim released
    groups = {g["group"]: g["used"] for g in RedisLimiter().snapshot()["groups"]}
    assert groups == {"status": 2, "char-asset": 2}


def _child_writes(key: str, parent_client_id: int, out: Any) -> None:
    client = get_redis()
    out.put((id(client) != parent_client_id, bool(client.set(key, "from the child"))))


def test_a_forked_process_builds_its_own_cluster_client(on_cluster: RedisCluster) -> None:
    on_cluster.ping()  # the parent's connections are open
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    child = ctx.Process(target=_child_writes, args=("esi:fork-test", id(on_cluster), out))
    child.start()
    child.join(60)
    assert child.exitcode == 0 and out.get(timeout=5) == (True, True)
    assert on_cluster.get("esi:fork-test") == b"from the child"  # and the parent's client still works


@pytest.mark.django_db
def test_keep_fresh_chains_start_in_bulk_on_the_cluster(on_cluster: RedisCluster, redis_cluster: LocalCluster) -> None:
    params = [{"type_id": n} for n in range(34, 64)]
    ids = keep_fresh.start_many("GetUniverseTypesTypeId", params, spread=60)
    assert len(set(ids)) == 30 and all(keep_fresh.is_active(i) for i in ids)
    assert on_cluster.zcard(DUE_KEY) == 30
    assert all(redis_cluster.keys_per_master("esi_tasks:keep:*").values())  # chains spread over the masters
    assert keep_fresh.start_many("GetUniverseTypesTypeId", params, spread=60) == ids  # running chains are kept
    assert keep_fresh.cancel_chain(ids[0]) and not keep_fresh.is_active(ids[0])
