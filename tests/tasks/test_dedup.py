"""De-duplication: identical fetches queued or running reach ESI once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from esi_tasks import dedup
from esi_tasks._keys import fetch_identity
from esi_tasks.tasks import fetch_endpoint
from tests.workers import held

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


def test_ten_concurrent_identical_enqueues_make_one_request(threads_worker, esi_sim):
    with held(threads_worker), ThreadPoolExecutor(10) as pool:  # all ten sent while the first is queued
        results = list(pool.map(lambda _: fetch_endpoint.delay("GetStatus"), range(10)))
    assert len({r.id for r in results}) == 1  # every caller got the first task's result
    data = [r.get(timeout=20) for r in results]
    assert all(d == data[0] for d in data) and "players" in data[0]
    assert esi_sim.stats()["by_route"]["GetStatus"] == {"200": 1}


def test_claim_is_released_when_the_task_finishes(threads_worker, esi_sim, redis_client):
    first = fetch_endpoint.delay("GetStatus")
    first.get(timeout=20)
    key = dedup.queued_key(fetch_identity("GetStatus", {}))
    assert redis_client.get(key) is None
    second = fetch_endpoint.delay("GetStatus")
    assert second.id != first.id
    second.get(timeout=20)
    # the second one was answered by the ESI cache the first one filled
    assert esi_sim.stats()["by_route"]["GetStatus"] == {"200": 1}


def test_different_parameters_are_not_shared(threads_worker, esi_sim):
    a = fetch_endpoint.delay("GetCharactersDetail", character_id=90000001)
    b = fetch_endpoint.delay("GetCharactersDetail", character_id=90000002)
    assert a.id != b.id
    assert a.get(timeout=20) != b.get(timeout=20)
    assert esi_sim.stats()["by_route"]["GetCharactersDetail"] == {"200": 2}


def test_snake_case_alias_shares_with_operation_id(threads_worker, esi_sim):
    with held(threads_worker):  # both are sent while the first is still queued
        a = fetch_endpoint.delay("GetStatus")
        b = fetch_endpoint.delay("get_status")
    assert a.id == b.id
    a.get(timeout=20)


def test_copy_sent_while_one_runs_waits_for_the_cache(threads_worker, esi_sim):
    """A copy that bypasses the queued claim (dedup=False) finds the running claim and waits."""
    esi_sim.configure_route("GetStatus", latency=1.0)
    first = fetch_endpoint.apply_async(("GetStatus",), dedup=False)
    second = fetch_endpoint.apply_async(("GetStatus",), dedup=False)
    assert first.id != second.id
    assert first.get(timeout=20) == second.get(timeout=20)
    assert esi_sim.stats()["by_route"]["GetStatus"] == {"200": 1}


def test_callbacks_get_the_result(threads_worker, esi_sim, redis_client):
    """A fetch with link= is always sent (its callback must run) and chains work."""
    from celery import chain

    from tests.tasks.tasks_for_tests import count_keys

    result = chain(fetch_endpoint.si("GetStatus"), count_keys.s()).apply_async()
    assert result.get(timeout=20) >= 3
