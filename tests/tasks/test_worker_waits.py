"""In a real worker a 5xx asking for a long Retry-After is not slept through: the call ends with
EsiRetryLater and the task re-queues with that countdown (the limits' re-queue path)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from esi_tasks.tasks import fetch_endpoint
from tests.tasks.conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


def test_a_long_retry_after_requeues_instead_of_sleeping(
    threads_worker: Any, esi_sim: Any, published: Any, settings: Any
) -> None:
    settings.ESI_SERVER_ERROR_MAX_RETRIES = 3  # the client would retry in place...
    settings.ESI_MAX_IN_PROCESS_WAIT = 5  # ...but never waits more than 5 s in a worker
    esi_sim.configure_route("GetStatus", status=503, retry_after=8)
    result = fetch_endpoint.delay("GetStatus")
    requeued = wait_for(lambda: [m for m in published.of(result.id) if m["requeues"] == 1], timeout=15)[0]
    assert esi_sim.stats()["by_route"]["GetStatus"] == {"503": 1}  # one request, no retry slept through
    countdown = (dt.datetime.fromisoformat(requeued["eta"]) - requeued["sent_at"]).total_seconds()
    assert 7.8 <= countdown <= 8.0 + 0.8 + 0.3  # ESI's Retry-After plus the re-queue jitter
    assert requeued["retries"] == 0  # max_retries untouched: a limit-style re-queue
    esi_sim.configure_route("GetStatus", status=None, retry_after=None)
    assert "players" in result.get(timeout=30)
    assert esi_sim.stats()["by_route"]["GetStatus"] == {"503": 1, "200": 1}


def test_a_short_retry_after_is_still_waited_in_place(
    threads_worker: Any, esi_sim: Any, published: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.ESI_SERVER_ERROR_MAX_RETRIES = 1
    settings.ESI_MAX_IN_PROCESS_WAIT = 5
    monkeypatch.setattr(fetch_endpoint, "retry_backoff", 30.0)  # Celery's retry comes much later
    esi_sim.configure_route("GetStatus", status=503, retry_after=1)
    result = fetch_endpoint.delay("GetStatus")
    again = wait_for(lambda: [m for m in published.of(result.id) if m["retries"] == 1], timeout=15)[0]
    # before the task was sent again, the client had waited 1 s in place and retried once
    assert esi_sim.stats()["by_route"]["GetStatus"] == {"503": 2}
    assert not again["requeues"]  # a Celery retry after the 5xx, not a limit re-queue
