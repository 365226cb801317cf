"""Issue 13 finding 5, task side: a 429 asking for an endless pause re-queues the task with a
bounded countdown (ESI_MAX_PAUSE), so the task comes back instead of waiting for ever."""

from __future__ import annotations

import datetime as dt

import pytest

from esi_tasks.tasks import fetch_endpoint
from tests.tasks.conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


def test_a_429_asking_for_decades_requeues_within_esi_max_pause(threads_worker, esi_sim, published, settings):
    settings.ESI_MAX_PAUSE = 3
    esi_sim.configure_route("GetStatus", status=429, retry_after=10**9)
    result = fetch_endpoint.delay("GetStatus")
    requeued = wait_for(lambda: [m for m in published.of(result.id) if m["requeues"] == 1], timeout=20)[0]
    countdown = (dt.datetime.fromisoformat(requeued["eta"]) - requeued["sent_at"]).total_seconds()
    assert countdown <= 3 + 0.5  # ESI_MAX_PAUSE plus the re-queue jitter, not 31 years
    esi_sim.configure_route("GetStatus", status=None, retry_after=None)
    assert "players" in result.get(timeout=30)  # it came back and ran
