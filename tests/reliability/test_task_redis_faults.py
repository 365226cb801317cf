"""A real worker whose Redis for cache, limits and claims (``ESI_REDIS_URL``) dies: the task layer's
bookkeeping is skipped, a fetch ESI answered still ends in its data, a fetch that could not be
sent is retried and ends in data once Redis is back, or in ``RedisUnavailable`` — never in a raw
redis-py error, never in silence. (The broker and results stay on the test Redis here; the
chaos run kills the one Redis that holds them all.) And with Redis up: a queued claim follows
its message through a re-queue and is dropped when the task ends."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from celery.contrib.testing.worker import start_worker

from esi.exceptions import RedisUnavailable
from esi.redis_pool import reset_redis
from esi_tasks import dedup, tasks
from esi_tasks._keys import fetch_identity
from esi_tasks.tasks import fetch_endpoint
from tests.celery_app import app
from tests.chaos.redis_server import PrivateRedis
from tests.servers import wait_until
from tests.workers import QUEUES

pytestmark = [pytest.mark.timeout(180), pytest.mark.django_db(transaction=True)]


@pytest.fixture
def esi_redis(settings: Any, redis_client: Any) -> Iterator[PrivateRedis]:
    """ESI's own Redis (AOF), which the test kills; quick retries of the fetch task."""
    private = PrivateRedis().start()
    settings.ESI_REDIS_URL = private.url()
    settings.ESI_REDIS_RETRIES = 0  # a refused connection fails at once
    settings.ESI_SERVER_ERROR_MAX_RETRIES = 0
    reset_redis()
    try:
        yield private
    finally:
        private.stop()
        reset_redis()


@pytest.fixture
def worker(esi_sim: Any, esi_redis: PrivateRedis, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setattr(tasks.fetch_endpoint, "retry_backoff", 0.2)
    monkeypatch.setattr(tasks.fetch_endpoint, "retry_backoff_max", 0.5)
    monkeypatch.setattr(tasks.fetch_endpoint, "retry_jitter", False)
    with start_worker(app, pool="threads", concurrency=2, queues=QUEUES, perform_ping_check=True) as running:
        yield running


def _running_claims(private: PrivateRedis) -> list[bytes]:
    with redis.Redis.from_url(private.url()) as raw:
        return list(raw.scan_iter("esi_tasks:dedup:r:*"))


def test_redis_killed_while_esi_answers_still_ends_in_the_data(worker: Any, esi_sim: Any, esi_redis: Any) -> None:
    """The cache write, the limiter's settle and both claim releases meet a dead Redis after ESI
    answered: each is skipped (the claims expire by themselves) and the task stores its data."""
    esi_sim.configure_route("GetStatus", latency=2.0)
    result = fetch_endpoint.delay("GetStatus")
    wait_until("the fetch to call ESI under its running claim", lambda: _running_claims(esi_redis), timeout=60)
    esi_redis.kill()
    assert "players" in result.get(timeout=60)
    assert esi_sim.stats()["by_route"]["GetStatus"] == {"200": 1}  # sent once, not again


def test_a_fetch_sent_while_redis_is_down_is_retried_and_ends_in_data_once_it_is_back(
    worker: Any, esi_sim: Any, esi_redis: Any, caplog: Any
) -> None:
    """``.delay()`` skips the claim (sent unshared); the worker's client cannot reach the limiter,
    sends nothing and raises ``RedisUnavailable``; the task retries until Redis is back."""
    caplog.set_level(logging.INFO, logger="esi_tasks.base")
    esi_redis.kill()
    result = fetch_endpoint.delay("GetStatus")
    wait_until("two retries", lambda: any("retry 2/" in r.getMessage() for r in caplog.records), timeout=60)
    assert esi_sim.stats()["total"] == 0  # nothing is sent unguarded
    esi_redis.start()
    assert "players" in result.get(timeout=60)
    assert esi_sim.stats()["by_route"]["GetStatus"] == {"200": 1}


def test_a_fetch_that_never_reaches_redis_fails_with_redis_unavailable(
    worker: Any, esi_sim: Any, esi_redis: Any
) -> None:
    esi_redis.kill()
    result = fetch_endpoint.delay("GetStatus")
    with pytest.raises(RedisUnavailable) as info:
        result.get(timeout=60)
    assert "nothing was sent to ESI" in str(info.value)
    assert result.state == "FAILURE" and esi_sim.stats()["total"] == 0


def test_the_queued_claim_follows_its_message_through_a_requeue(worker: Any, esi_sim: Any, esi_redis: Any) -> None:
    """A rate-limited fetch waits re-queued: identical ``.delay()`` calls meanwhile are handed its
    task (one request once the limit is over); when it ends its claim goes, and the next call is
    a new task."""
    esi_sim.configure_route("GetStatus", status=429, retry_after=3)
    first = fetch_endpoint.delay("GetStatus")
    wait_until("the fetch to be re-queued", lambda: first.state == "RETRY", timeout=60)
    assert [fetch_endpoint.delay("GetStatus").id for _ in range(3)] == [first.id] * 3
    esi_sim.configure_route("GetStatus", status=None, retry_after=None)
    assert "players" in first.get(timeout=60)
    wait_until(
        "the claim to go", lambda: dedup.holder(dedup.queued_key(fetch_identity("GetStatus", {}))) is None, timeout=60
    )
    assert fetch_endpoint.delay("GetStatus").id != first.id
    assert esi_sim.stats()["by_route"]["GetStatus"] == {"429": 1, "200": 1}
