"""A token sweep shows done/total/failed/ETA while it runs: in Redis (``sweep_progress()``), in
``esi_status`` and in each lane's Celery state. Checked at each refresh (events), never by time."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import signal
from typing import Any

import pytest
from celery import current_task
from celery.result import AsyncResult
from django.core.management import call_command
from django.utils import timezone

from esi.exceptions import RedisUnavailable
from esi.models import Token
from esi.signals import token_refreshed
from esi.tokens import SweepProgress, SweepRecorder
from esi_tasks import token_refresh
from esi_tasks.tasks import refresh_tokens
from tests.tasks.conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]

SCOPES = ["esi-assets.read_assets.v1"]


def _lapsing(make_token: Any, n: int) -> list[Token]:
    tokens = [make_token(90000001 + i % 3, SCOPES) for i in range(n)]
    soon = timezone.now() + dt.timedelta(minutes=1)
    Token.objects.filter(pk__in=[t.pk for t in tokens]).update(access_token_expires=soon)
    return tokens


def test_progress_is_visible_at_each_refresh_of_a_running_sweep(threads_worker, esi_sim, make_token, settings):
    settings.ESI_REFRESH_SWEEP_CONCURRENCY = 1  # one lane: the k-th refresh sees k-1 done
    _lapsing(make_token, 4)
    seen: list[dict[str, Any]] = []

    def on_refreshed(**kwargs: Any) -> None:
        progress = token_refresh.sweep_progress()
        lane = AsyncResult(current_task.request.id)
        seen.append({"done": progress.done, "total": progress.total, "state": lane.state, "info": lane.info})

    token_refreshed.connect(on_refreshed, dispatch_uid="test-sweep-progress")
    try:
        summary = refresh_tokens.delay(interval=300).get(timeout=30)
        assert AsyncResult(summary["task_ids"][0]).get(timeout=30) == {"refreshed": 4}
    finally:
        token_refreshed.disconnect(dispatch_uid="test-sweep-progress")
    assert [s["done"] for s in seen] == [0, 1, 2, 3] and {s["total"] for s in seen} == {4}
    assert [s["state"] for s in seen[1:]] == ["PROGRESS"] * 3  # the lane's task state, mid-lane
    assert [s["info"]["lane_done"] for s in seen[1:]] == [1, 2, 3]
    assert [s["info"]["sweep_done"] for s in seen[1:]] == [1, 2, 3]
    assert seen[1]["info"]["sweep_id"] == summary["sweep_id"] and seen[1]["info"]["lane_total"] == 4
    final = token_refresh.sweep_progress()
    assert final is not None and final.sweep_id == summary["sweep_id"]
    assert (final.done, final.total, final.failed, final.lanes_done, final.finished) == (4, 4, 0, 1, True)
    assert final.counts == {"refreshed": 4} and final.eta == 0.0 and final.source == "task"


def test_failed_tokens_are_counted_and_esi_status_shows_the_sweep(threads_worker, esi_sim, make_token, settings):
    settings.ESI_REFRESH_SWEEP_CONCURRENCY = 2
    tokens = _lapsing(make_token, 3)
    esi_sim.revoke_refresh_token(tokens[0].refresh_token)
    summary = refresh_tokens.delay(interval=300).get(timeout=30)
    for task_id in summary["task_ids"]:
        AsyncResult(task_id).get(timeout=30)
    progress = token_refresh.sweep_progress(summary["sweep_id"])
    assert (progress.done, progress.failed, progress.lanes_done) == (3, 1, 2)
    assert progress.counts == {"invalid": 1, "refreshed": 2}
    out = io.StringIO()
    call_command("esi_status", "--no-request", stdout=out)
    line = next(line for line in out.getvalue().splitlines() if line.startswith("Token sweep"))
    assert f"Token sweep {summary['sweep_id']} (task," in line
    assert "finished, 3/3 tokens, 1 failed" in line and "lanes 2/2" in line and "invalid=1 refreshed=2" in line
    out = io.StringIO()
    call_command("esi_status", "--no-request", "--json", stdout=out)
    document = json.loads(out.getvalue())["token_sweep"]
    assert document["done"] == 3 and document["failed"] == 1 and document["finished"] is True


def test_the_command_records_its_sweep(esi_sim, redis_client, make_token):
    _lapsing(make_token, 2)
    call_command("esi_refresh_tokens", "--concurrency=2", stdout=io.StringIO())
    progress = token_refresh.sweep_progress()
    assert (progress.source, progress.done, progress.total, progress.lanes_done) == ("command", 2, 2, 2)


def test_no_sweep_recorded(redis_client):
    assert token_refresh.sweep_progress() is None
    out = io.StringIO()
    call_command("esi_status", "--no-request", stdout=out)
    assert "Token sweep: none recorded in the last hour" in out.getvalue()


def test_eta_from_the_rate_so_far(redis_client):
    recorder = SweepRecorder.start(total=10, lanes=1, source="test")
    for outcome in ("refreshed", "refreshed", "unavailable", "refreshed"):
        recorder.record(outcome, failed=outcome == "unavailable")
    key = f"esi:token-sweep:{recorder.sweep_id}"
    started = float(redis_client.hget(key, "started"))
    redis_client.hset(key, "updated", repr(started + 8.0))  # 4 tokens in 8 s
    progress = token_refresh.sweep_progress()
    assert isinstance(progress, SweepProgress)
    assert (progress.done, progress.failed, progress.remaining) == (4, 1, 6)
    assert progress.rate == pytest.approx(0.5) and progress.eta == pytest.approx(12.0)
    assert 0 < redis_client.ttl(key) <= 3600  # bounded: the record expires


def test_a_redis_outage_costs_the_record_not_the_sweep(redis_client, settings):
    from esi.redis_pool import reset_redis

    recorder = SweepRecorder("gone")
    settings.ESI_REDIS_URL = "redis://127.0.0.1:1/0"
    settings.ESI_REDIS_RETRIES = 0
    reset_redis()
    try:
        assert recorder.record("refreshed", failed=False) is None  # logged, not raised
        with pytest.raises(RedisUnavailable, match="ESI_REDIS_URL"):
            token_refresh.sweep_progress()
    finally:
        reset_redis()


@pytest.fixture
def short_lock_worker(redis_client, esi_sim, monkeypatch):
    """A prefork worker whose refresh locks live 2 s: the lock a killed child leaves behind
    expires quickly (it is extended while its holder lives, so 2 s is no risk otherwise)."""
    from tests.tasks.conftest import PreforkWorker

    monkeypatch.setenv("ESI_TEST_WORKER_LOCK_TIMEOUT", "2")
    worker = PreforkWorker(esi_sim.url)
    try:
        worker.wait_ready()
        yield worker
    finally:
        worker.stop()


@pytest.mark.slow
def test_a_lane_killed_mid_way_and_redelivered_refreshes_nothing_twice(short_lock_worker, esi_sim, make_token):
    """SIGKILL the prefork child running a lane; the broker hands the lane back (acks_late) and
    the second run sends SSO nothing for the tokens the first run stored (POSTs counted)."""
    from esi_tasks.tasks import refresh_token_lane

    prefork_worker = short_lock_worker

    ids = [t.pk for t in _lapsing(make_token, 8)]
    sweep = token_refresh.begin_sweep(ids, [ids], source="test")
    since = dt.datetime.fromtimestamp(sweep["started"], tz=dt.UTC)

    def stored() -> int:
        return Token.objects.filter(pk__in=ids, updated__gte=since).count()

    esi_sim.configure_route("SsoToken", latency=0.5)
    result = refresh_token_lane.delay(ids, sweep=sweep)
    wait_for(lambda: stored() >= 3, timeout=60)
    running = wait_for(lambda: [t for t in prefork_worker.active() if t["id"] == result.id], timeout=20)[0]
    os.kill(running["worker_pid"], signal.SIGKILL)
    wait_for(lambda: running["worker_pid"] not in prefork_worker.child_pids(), timeout=20)
    renewed_before_kill = stored()
    esi_sim.configure_route("SsoToken", latency=None)
    counts = result.get(timeout=90)
    sso = esi_sim.stats()["sso"]
    lost = sso.get("token_error_invalid_grant", 0)  # the refresh in flight when the child died
    assert lost <= 1
    assert counts.get("fresh") == renewed_before_kill >= 3  # not sent to SSO again
    assert counts.get("refreshed", 0) + counts.get("invalid", 0) == len(ids) - renewed_before_kill
    assert counts.get("invalid", 0) == lost
    assert sso["token_refresh_token"] == len(ids) + lost  # one POST per token, plus the one in flight


def test_a_task_state_that_cannot_be_stored_does_not_end_the_lane(esi_sim, redis_client, make_token):
    import redis

    ids = [t.pk for t in _lapsing(make_token, 2)]
    calls: list[int] = []

    def report(meta: dict[str, Any]) -> None:
        calls.append(meta["lane_done"])
        raise redis.ConnectionError("result backend away")

    assert token_refresh.refresh_lane(ids, report=report) == {"refreshed": 2}
    assert calls == [1, 2]
