"""A prefork worker in a subprocess (``celery -A tests.celery_app worker -P prefork -c 2``)."""

from __future__ import annotations

import os
import signal

import pytest

from esi_tasks.tasks import fetch_endpoint
from tests.tasks.conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180), pytest.mark.slow]


def test_public_and_secured_fetch_in_prefork_children(prefork_worker, esi_sim, make_token):
    make_token(90000001, ["esi-assets.read_assets.v1"])
    assert "players" in fetch_endpoint.delay("GetStatus").get(timeout=30)
    assets = fetch_endpoint.delay("GetCharactersCharacterIdAssets", character_id=90000001).get(timeout=30)
    assert isinstance(assets, list)
    assert [e["character_id"] for e in esi_sim.request_log("GetCharactersCharacterIdAssets")] == [90000001]


def test_no_fetch_is_lost_when_the_worker_process_is_killed(prefork_worker, esi_sim):
    esi_sim.configure_route("GetStatus", latency=3)
    result = fetch_endpoint.delay("GetStatus")
    running = wait_for(lambda: [t for t in prefork_worker.active() if t["id"] == result.id], timeout=20)[0]
    pid = running["worker_pid"]
    assert pid in prefork_worker.child_pids()
    os.kill(pid, signal.SIGKILL)
    esi_sim.configure_route("GetStatus", latency=None)
    assert "players" in result.get(timeout=60)  # redelivered and run by another child
    # the killed child never got its answer (3 s latency); the data came from the redelivery
    assert len(esi_sim.request_log("GetStatus")) >= 1
    assert pid not in prefork_worker.child_pids()
