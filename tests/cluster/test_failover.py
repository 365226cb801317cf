"""A master fails over while the client, the limiter, a lock and a fetch use it: a Sentinel
promotes the replica of a killed master, a Redis Cluster's replica takes over its killed master's
slots. Every call in between ends in data or a documented ``esi.exceptions`` error; once the
failover is done, everything works again. Each test starts (and kills) its own servers."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker
from redis.crc import key_slot

from esi.client import EsiClient
from esi.client.limits import RedisLimiter
from esi.client.limits._scripts import KeySpace
from esi.exceptions import EsiError
from esi.redis_pool import get_redis, reset_redis
from esi.tokens._lock import held
from esi_tasks.tasks import fetch_endpoint
from tests.celery_app import app as test_app
from tests.cluster.servers import READY_WAIT, LocalCluster, LocalSentinel

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

TYPES = "GetUniverseTypesTypeId"
IDS = list(range(34, 64))


def _fast_redis(settings: Any, url: str) -> None:
    """Short timeouts and one retry: a dead node answers within a second, not after a backoff."""
    settings.ESI_REDIS_URL = url
    settings.ESI_REDIS_RETRIES = 1
    settings.ESI_REDIS_RETRY_BACKOFF = 0.05
    settings.ESI_REDIS_SOCKET_TIMEOUT = 1
    settings.ESI_REDIS_CONNECT_TIMEOUT = 0.5
    reset_redis()


@pytest.fixture
def sentinel_pair(redis_client: Any, settings: Any) -> Iterator[LocalSentinel]:
    deployment = LocalSentinel(replica=True, down_after_ms=1000).start()
    try:
        _fast_redis(settings, deployment.url(0))
        yield deployment
    finally:
        reset_redis()
        deployment.stop()


@pytest.fixture
def replicated_cluster(redis_client: Any, settings: Any) -> Iterator[LocalCluster]:
    deployment = LocalCluster(replicas=1, node_timeout_ms=1000).start()
    try:
        _fast_redis(settings, deployment.url)
        yield deployment
    finally:
        reset_redis()
        deployment.stop()


def _use(client: EsiClient) -> str:
    """One round of everything: the cache and the limiter (a call), a lock, a limiter snapshot."""
    for type_id in IDS[:3]:
        assert client.call(TYPES, type_id=type_id).data["type_id"] == type_id
    with held(4242, "busy") as lock:  # the refresh lock: RedisUnavailable when Redis does not answer
        assert lock.owned()
    RedisLimiter().snapshot()
    return "data"


def _through_the_failover(client: EsiClient, done: Callable[[], bool]) -> list[str]:
    """Use everything until ``done()``: each round ends in data or an ``EsiError`` (its class name)."""
    outcomes: list[str] = []
    deadline = time.monotonic() + READY_WAIT
    while not done():
        assert time.monotonic() < deadline, f"the failover did not finish within {READY_WAIT} s: {outcomes}"
        try:
            outcomes.append(_use(client))
        except EsiError as exc:  # the documented errors (RedisUnavailable...); anything else fails the test
            outcomes.append(type(exc).__name__)
    return outcomes


def _until_the_client_knows(client: EsiClient, outcomes: list[str]) -> None:
    """Rounds until one ends in data: the servers agree on the new master, but a cluster client
    learns it at its next topology refresh, which redis-py runs at most once a second after an
    error (``topology_refresh_min_interval``); a call within that second of a refresh made before
    the failover ended still goes to the killed master (RedisUnavailable, documented)."""
    deadline = time.monotonic() + READY_WAIT
    while True:
        try:
            outcomes.append(_use(client))
            return
        except EsiError as exc:
            outcomes.append(type(exc).__name__)
        assert time.monotonic() < deadline, f"the client did not learn the new master within {READY_WAIT} s: {outcomes}"


def _works_again(client: EsiClient, esi_sim: Any) -> None:
    """Data for every resource, a lock, the limiter's books, and a fetch through a worker."""
    answers = [client.call(TYPES, type_id=i) for i in IDS]
    assert [r.data["type_id"] for r in answers] == IDS
    assert _use(client) == "data"
    limiter = RedisLimiter()
    assert limiter.snapshot()["enabled"]
    with start_worker(
        test_app,
        pool="threads",
        concurrency=1,
        queues=["esi_tokens", "esi", "celery"],
        perform_ping_check=True,
        shutdown_timeout=30,
        loglevel="WARNING",
    ):
        status = fetch_endpoint.delay("GetStatus").get(timeout=30)
    assert isinstance(status, dict) and "players" in status
    assert esi_sim.stats()["by_route"]["GetStatus"].get("200", 0) >= 1


def test_a_sentinel_failover(sentinel_pair: LocalSentinel, esi_sim: Any) -> None:
    esi_sim.configure_route(TYPES, cache_seconds=3600)
    client = EsiClient()
    assert _use(client) == "data"
    [client.call(TYPES, type_id=i) for i in IDS]
    old_master = sentinel_pair.master_port
    assert sentinel_pair.master_addr() == old_master

    sentinel_pair.kill_master()
    outcomes = _through_the_failover(client, lambda: sentinel_pair.master_addr() == sentinel_pair.replica_port)
    sentinel_pair.wait_promoted()

    assert "RedisUnavailable" in outcomes and set(outcomes) <= {"data", "RedisUnavailable"}, outcomes
    _works_again(client, esi_sim)
    assert get_redis().connection_pool.get_master_address()[1] == sentinel_pair.replica_port  # type: ignore[attr-defined]


def test_a_cluster_master_fails_over_to_its_replica(replicated_cluster: LocalCluster, esi_sim: Any) -> None:
    esi_sim.configure_route(TYPES, cache_seconds=3600)
    client = EsiClient()
    assert _use(client) == "data"
    [client.call(TYPES, type_id=i) for i in IDS]
    cluster: Any = get_redis()
    limiter_node = cluster.get_node_from_key(KeySpace().err)  # the master of the limiter's hash slot
    victim = int(limiter_node.port)
    survivor = next(p for p in replicated_cluster.master_ports() if p != victim)
    heir = replicated_cluster.replica_of(victim)

    replicated_cluster.kill(victim)

    slot = key_slot(KeySpace().err.encode())

    def serves_the_slot(port: int) -> int:  # what node ``port`` says serves the limiter's slot
        ranges = replicated_cluster.node(port).execute_command("CLUSTER", "SLOTS")
        return next(int(primary[1]) for start, end, primary, *_ in ranges if start <= slot <= end)

    def failed_over() -> bool:
        promoted = replicated_cluster.node(heir).info("replication")["role"] == "master"
        return bool(
            promoted
            and replicated_cluster.node(survivor).cluster("info")["cluster_state"] == "ok"
            # every node the client may learn the slots from knows it: no refresh sends it to the victim
            and all(serves_the_slot(p) == heir for p in replicated_cluster.alive())
        )

    outcomes = _through_the_failover(client, failed_over)
    replicated_cluster.wait_ok(survivor)
    _until_the_client_knows(client, outcomes)

    assert "RedisUnavailable" in outcomes and set(outcomes) <= {"data", "RedisUnavailable"}, outcomes
    assert len(replicated_cluster.master_ports()) == 3  # the victim's replica is a master now
    _works_again(client, esi_sim)
    assert int(cluster.get_node_from_key(KeySpace().err).port) == heir  # the limiter's slot moved with it
