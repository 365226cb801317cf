"""Keep-fresh: one fetch per Expires period, never before; cancellable; one chain per resource."""

from __future__ import annotations

import datetime as dt
import itertools
import time

import pytest

from esi_tasks import keep_fresh
from tests.tasks.conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


def test_fetches_once_per_expires_period_and_stops_when_cancelled(threads_worker, esi_sim, received_signals):
    esi_sim.configure_route("GetStatus", cache_seconds=3)
    chain_id = keep_fresh.start("GetStatus")
    assert keep_fresh.start("GetStatus") == chain_id  # one chain per resource
    time.sleep(9)
    requests = sum(esi_sim.stats()["by_route"]["GetStatus"].values())
    # one request per 2-4 s period (Expires has 1 s resolution, plus jitter); polling would make many more
    assert 2 <= requests <= 5, requests
    # runs that reached ESI (a run that finds the cached copy still fresh costs no request)
    fetched = [s for s in received_signals["fetched"] if s["operation"] == "GetStatus" and not s["meta"]["from_cache"]]
    assert len(fetched) == requests
    assert len(fetched) >= 2
    for previous, current in itertools.pairwise(fetched):
        # never before the previous answer's Expires (ESI's rule; Expires has 1 s resolution)
        assert current["wall"] >= dt.datetime.fromisoformat(previous["meta"]["expires"]), (previous, current)
    assert keep_fresh.cancel("GetStatus") is True
    assert not keep_fresh.is_active(chain_id)
    time.sleep(3.5)
    assert sum(esi_sim.stats()["by_route"]["GetStatus"].values()) == requests


def test_chain_stops_on_a_final_error(threads_worker, esi_sim, settings):
    settings.ESI_ERROR_MEMORY_TIMEOUT = 30
    esi_sim.configure_route("GetCharactersDetail", status=404)
    chain_id = keep_fresh.start("GetCharactersDetail", character_id=90000001)
    wait_for(lambda: not keep_fresh.is_active(chain_id), timeout=15)
    assert esi_sim.stats()["by_route"]["GetCharactersDetail"] == {"404": 1}


def test_next_run_is_just_after_expires():
    import datetime as dt

    now = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
    delay = keep_fresh.next_run_delay(now + dt.timedelta(seconds=300), now=now)
    assert 300.2 <= delay <= 305
    assert 1.0 < keep_fresh.next_run_delay(now - dt.timedelta(seconds=10), now=now) < 2  # never a hot loop
    assert 60 <= keep_fresh.next_run_delay(None, fallback=60, now=now) <= 66


def test_overdue_chain_is_restarted(esi_sim, redis_client, celery_app):
    """A chain whose message was lost (next run long past) is replaced on the next start."""
    import datetime as dt

    from esi.redis_pool import get_redis

    # no worker: the first message just waits in the broker; pretend it was lost long ago
    chain_id = keep_fresh.start("GetStatus")
    key = f"esi_tasks:keep:{chain_id.split(':', 1)[0]}"
    get_redis().hset(key, "next_run", (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)).isoformat())
    restarted = keep_fresh.start("GetStatus")
    assert restarted != chain_id
    assert keep_fresh.is_active(restarted) and not keep_fresh.is_active(chain_id)
    assert keep_fresh.start("GetStatus") == restarted
    keep_fresh.cancel("GetStatus")


def test_long_waits_are_made_in_hops_shorter_than_the_visibility_timeout():
    import datetime as dt

    now = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
    assert keep_fresh.next_run_delay(now + dt.timedelta(days=30), now=now) == keep_fresh.MAX_DELAY


def test_early_hop_only_reschedules(threads_worker, esi_sim, received_signals, published):
    """A hop that wakes long before Expires sends the next hop: no fetch, no signal."""
    from esi.redis_pool import get_redis
    from esi_tasks.tasks import keep_fresh as keep_fresh_task

    esi_sim.configure_route("GetStatus", cache_seconds=600)
    chain_id = keep_fresh.start("GetStatus")
    wait_for(lambda: keep_fresh.state(chain_id).get("expires"), timeout=15)
    assert len(received_signals["fetched"]) == 1
    # wake the chain early, as a hop of a long wait would
    get_redis().hset(f"esi_tasks:keep:{chain_id.split(':', 1)[0]}", "next_task_id", "")
    early = keep_fresh_task.apply_async(("GetStatus",), {"keep_id": chain_id})
    assert early.get(timeout=20) is None
    assert esi_sim.stats()["by_route"]["GetStatus"] == {"200": 1}
    assert len(received_signals["fetched"]) == 1
    assert keep_fresh.state(chain_id)["next_task_id"] != ""
    keep_fresh.cancel("GetStatus")
