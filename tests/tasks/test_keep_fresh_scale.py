"""Keep-fresh at scale: no results piling up, bulk starts spread over the period, listing and
stopping chains, the dispatcher's lease and single tick, refresh at the cache's own expiry."""

from __future__ import annotations

import collections
import datetime as dt
import math
import time

import pytest
from celery.signals import task_prerun
from django.core.management import call_command

from esi.exceptions import EsiResultTooLarge, RedisUnavailable
from esi.redis_pool import get_redis
from esi_tasks import dispatcher, keep_fresh
from esi_tasks.tasks import fetch_endpoint
from tests.tasks.conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


def _result_keys() -> list[bytes]:
    return list(get_redis().scan_iter(match="celery-task-meta-*", count=1000))


@pytest.fixture
def runs():
    """Task ids of the keep-fresh runs the in-process worker started."""
    seen: list[str] = []

    def on_prerun(sender=None, task_id=None, **_):
        if getattr(sender, "name", None) == "esi_tasks.keep_fresh":
            seen.append(task_id)

    task_prerun.connect(on_prerun, weak=False)
    yield seen
    task_prerun.disconnect(on_prerun)


def _ids(n: int, first: int = 90000001) -> list[dict[str, int]]:
    return [{"character_id": first + i} for i in range(n)]


# --- results ---------------------------------------------------------------------------------


def test_keep_fresh_runs_leave_no_results(threads_worker, esi_sim, runs, published):
    esi_sim.configure_route("GetStatus", cache_seconds=1)
    keep_fresh.start("GetStatus")
    wait_for(lambda: len(runs) >= 4, timeout=30)
    keep_fresh.cancel("GetStatus")
    ours = {m["id"] for m in published.messages if m["task"] in ("esi_tasks.keep_fresh", dispatcher.DISPATCH_TASK)}
    assert set(runs) <= ours and len(ours) >= 5  # runs and the dispatcher's ticks
    stored = {key.decode().removeprefix("celery-task-meta-") for key in _result_keys()}
    assert stored & ours == set()  # 0 bodies (the worker's start-up ping keeps its result)


def test_stored_results_opted_in_live_the_configured_time(threads_worker, esi_sim, runs, settings):
    settings.ESI_TASK_STORE_SCHEDULED_RESULTS = True
    settings.ESI_TASK_RESULT_EXPIRES = 120
    esi_sim.configure_route("GetStatus", cache_seconds=1)
    keep_fresh.start("GetStatus")
    wait_for(lambda: len(runs) >= 3, timeout=30)
    keep_fresh.cancel("GetStatus")
    r = get_redis()
    keys = [f"celery-task-meta-{task_id}" for task_id in runs[:2]]
    wait_for(lambda: r.exists(*keys) == 2, timeout=10)  # a run's result is stored after it returns
    stored = [r.ttl(key) for key in keys]
    assert all(0 < ttl <= 120 for ttl in stored), stored  # Celery's result_expires here is 600


def test_a_beat_sent_schedule_run_keeps_no_result(threads_worker, esi_sim, published):
    from esi_tasks.models import EndpointSchedule
    from esi_tasks.tasks import run_schedule

    schedule = EndpointSchedule.objects.create(name="s", operation="GetStatus", kind="interval", every_minutes=5)
    beat = run_schedule.apply_async((schedule.pk,), headers={"celery_beat_task": True, "periodic_task_name": "x"})
    wait_for(lambda: EndpointSchedule.objects.get(pk=schedule.pk).last_status == "ok", timeout=20)
    by_hand = run_schedule.delay(schedule.pk)
    result = by_hand.get(timeout=20)  # a call by hand: Celery's normal result
    assert result["schedule_id"] == schedule.pk and result["status"] == "ok" and result["http_status"] == 200
    assert get_redis().exists(f"celery-task-meta-{beat.id}") == 0
    assert get_redis().exists(f"celery-task-meta-{by_hand.id}") == 1


def test_a_result_above_the_cap_is_refused_with_a_clear_error(threads_worker, esi_sim, settings, received_signals):
    settings.ESI_TASK_RESULT_MAX_BYTES = 10
    with pytest.raises(EsiResultTooLarge, match="ESI_TASK_RESULT_MAX_BYTES") as caught:
        fetch_endpoint.delay("GetStatus").get(timeout=20)
    assert caught.value.limit == 10 and caught.value.size > 10
    assert len(received_signals["fetched"]) == 1  # the fetch happened and was announced
    settings.ESI_TASK_RESULT_MAX_BYTES = 10_000
    assert fetch_endpoint.delay("GetStatus", force_refresh=True).get(timeout=20)["players"] >= 0


# --- bulk start, listing, stopping ---------------------------------------------------------------


def test_start_many_spreads_first_runs_and_sends_no_message_per_chain(redis_client, esi_sim, published):
    ids = keep_fresh.start_many("GetCharactersDetail", _ids(1000), spread=100)
    assert len(set(ids)) == 1000 and keep_fresh.count() == 1000
    assert len(published.messages) <= 1  # the dispatcher's first tick, nothing per chain
    scores = [score for _member, score in get_redis().zrange(dispatcher.DUE_KEY, 0, -1, withscores=True)]
    burst = max(collections.Counter(math.floor(s) for s in scores).values())
    assert burst <= math.ceil(1000 / 100) + 1, burst
    assert max(scores) - min(scores) > 90  # over the whole period, not bunched at the start
    # starting again keeps the running chains
    assert keep_fresh.start_many("GetCharactersDetail", _ids(1000), spread=100) == ids
    assert keep_fresh.start("GetCharactersDetail", character_id=90000001) == ids[0]


def test_chains_are_listed_counted_and_stopped(redis_client, esi_sim):
    keep_fresh.start_many("GetCharactersDetail", _ids(30), spread=30)
    keep_fresh.start("GetStatus")
    listed = keep_fresh.chains(limit=None)
    assert len(listed) == 31 == keep_fresh.count()
    assert [c.next_run for c in listed] == sorted(c.next_run for c in listed)
    details = keep_fresh.chains(limit=5, operation="GetCharactersDetail")
    assert len(details) == 5 and {c.operation for c in details} == {"GetCharactersDetail"}
    assert details[0].params == {"character_id": 90000001} and details[0].runs == 0
    assert keep_fresh.count_late() == 0  # due within the next 30 s: none late yet
    assert keep_fresh.count_late(-60) == 31 and listed[-1].late == 0.0
    assert keep_fresh.stop_all(operation="GetCharactersDetail") == 30
    assert [c.operation for c in keep_fresh.chains()] == ["GetStatus"]
    assert keep_fresh.stop_all() == 1 and keep_fresh.count() == 0


def test_management_command(redis_client, esi_sim, capsys):
    ids = keep_fresh.start_many("GetCharactersDetail", _ids(3), spread=3)
    call_command("esi_keep_fresh", "count")
    assert "3 chain(s)" in capsys.readouterr().out
    call_command("esi_keep_fresh", "list", "--limit", "2")
    out = capsys.readouterr().out
    assert out.count("GetCharactersDetail") == 2 and "2 of 3 chain(s) listed" in out
    call_command("esi_keep_fresh", "stop", ids[0])
    assert "1 chain(s) stopped" in capsys.readouterr().out
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="Say which chains"):
        call_command("esi_keep_fresh", "stop")
    call_command("esi_keep_fresh", "stop", "--all")
    assert "2 chain(s) stopped" in capsys.readouterr().out and keep_fresh.count() == 0


def test_bulk_chains_run_through_a_worker(threads_worker, esi_sim, received_signals):
    esi_sim.configure_route("GetCharactersDetail", cache_seconds=600)
    keep_fresh.start_many("GetCharactersDetail", _ids(6), spread=2)
    wait_for(lambda: len(received_signals["fetched"]) == 6, timeout=30)
    assert esi_sim.stats()["by_route"]["GetCharactersDetail"] == {"200": 6}
    wait_for(lambda: all(c.runs == 1 for c in keep_fresh.chains()), timeout=10)
    assert keep_fresh.stop_all() == 6


# --- the dispatcher --------------------------------------------------------------------------


def test_a_lost_run_is_sent_again_after_the_lease(redis_client, esi_sim, published, celery_app):
    keep_fresh.start("GetStatus")
    before = len(published.messages)
    now = time.time()
    assert dispatcher.dispatch(celery_app, now=now) == 1
    assert dispatcher.dispatch(celery_app, now=now + 1) == 0  # claimed: not sent twice
    assert dispatcher.dispatch(celery_app, now=now + dispatcher.LEASE + 1) == 1  # its message was lost
    sent = [m for m in published.messages[before:] if m["task"] == "esi_tasks.keep_fresh"]
    assert len(sent) == 2 and sent[0]["id"] == sent[1]["id"]  # the same run: revocable by one id
    assert keep_fresh.count() == 1


def test_one_tick_chain(redis_client, esi_sim, published, celery_app):
    assert dispatcher.ensure_ticking(celery_app) is True
    assert dispatcher.ensure_ticking(celery_app) is False
    keep_fresh.start("GetStatus")
    keep_fresh.start_many("GetCharactersDetail", _ids(2))
    ticks = [m for m in published.messages if m["task"] == dispatcher.DISPATCH_TASK]
    assert len(ticks) == 1
    # a tick of another chain stops at once, without dispatching
    assert dispatcher.tick(celery_app, "not-the-current-token") == 0
    assert keep_fresh.chains(limit=1)[0].runs == 0 and len(published.messages) == 1


# --- refresh at the cache's own expiry -----------------------------------------------------------


def test_no_run_lands_while_the_cached_copy_is_still_fresh(threads_worker, esi_sim, runs):
    """Date is cut to the second, so the cached copy outlives Expires by up to 1 s: a run at
    Expires would find it fresh and cost a task for nothing. Every run must reach ESI."""
    esi_sim.configure_route("GetStatus", cache_seconds=2)
    keep_fresh.start("GetStatus")
    wait_for(lambda: len(runs) >= 5, timeout=40)
    keep_fresh.cancel("GetStatus")
    time.sleep(0.5)  # the run under way finishes its request
    requests = sum(esi_sim.stats()["by_route"]["GetStatus"].values())
    assert requests >= len(runs) - 1 >= 4, (requests, len(runs))  # the last run may have seen the cancel


def test_the_dispatcher_beat_entry_is_installed_alone_by_its_migration(esi_sim):
    """Migration 0005 adds the dispatcher's entry only: defaults a site deleted stay deleted."""
    import importlib

    from django.apps import apps
    from django_celery_beat.models import PeriodicTask

    PeriodicTask.objects.all().delete()
    importlib.import_module("esi_tasks.migrations.0005_keep_fresh_dispatcher").install(apps, None)
    (entry,) = PeriodicTask.objects.all()
    assert entry.name == "esi: keep-fresh dispatcher" and entry.task == dispatcher.DISPATCH_TASK
    assert entry.interval.every == 60 and entry.interval.period == "seconds" and entry.enabled


def test_a_tick_sends_for_a_bounded_time_and_leaves_the_rest_due(redis_client, esi_sim, celery_app, published):
    keep_fresh.start_many("GetCharactersDetail", _ids(500), spread=0)  # all due at once
    assert dispatcher.dispatch(celery_app, budget=0) == dispatcher.BATCH  # one round, then the budget is spent
    still_due = get_redis().zcount(dispatcher.DUE_KEY, "-inf", time.time() + dispatcher.LOOKAHEAD)
    assert still_due == 500 - dispatcher.BATCH  # not claimed: the next tick sends them
    assert dispatcher.dispatch(celery_app, budget=3600) == 500 - dispatcher.BATCH  # until none is due
    runs = [m for m in published.messages if m["task"] == "esi_tasks.keep_fresh"]
    assert len(runs) == 500 and len({m["id"] for m in runs}) == 500


def _queued_runs() -> int:
    """Run messages in the broker's ``esi`` queue (its priority lists too)."""
    r = get_redis()
    keys = [k for k in r.scan_iter(match="esi*", count=1000) if not k.startswith(b"esi_tokens")]
    return sum(r.llen(k) for k in keys if r.type(k) == b"list")


class _SteppingClock:
    """The dispatcher's clock: its monotonic time moves 1 ms a reading, however loaded the machine
    is (a 100-run tick took over TICK at load 12, and the next tick was rightly sent at once)."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        self.now += 0.001
        return self.now

    time = staticmethod(time.time)


def test_a_tick_behind_sends_the_next_tick_at_once(redis_client, esi_sim, celery_app, published, monkeypatch):
    """Ticks start TICK apart (not TICK after their work); a tick that ran out of budget with runs
    still due sends the next one with no countdown, and the runs it sent are in the broker."""
    keep_fresh.start_many("GetCharactersDetail", _ids(300), spread=0)  # all due at once
    monkeypatch.setattr(dispatcher, "time", _SteppingClock())
    token = get_redis().get(dispatcher.TICK_KEY).decode()
    monkeypatch.setattr(dispatcher, "TICK_BUDGET", 0.0)  # one round of BATCH runs per tick
    assert dispatcher.tick(celery_app, token) == dispatcher.BATCH
    behind = [m for m in published.messages if m["task"] == dispatcher.DISPATCH_TASK][-1]
    assert behind["eta"] is None  # at once: runs are still due
    assert _queued_runs() == dispatcher.BATCH  # published through the batch, none lost
    monkeypatch.setattr(dispatcher, "TICK_BUDGET", 60.0)
    assert dispatcher.tick(celery_app, token) == 300 - dispatcher.BATCH
    caught_up = [m for m in published.messages if m["task"] == dispatcher.DISPATCH_TASK][-1]
    assert caught_up["eta"] is not None  # caught up: the next tick one TICK after this one started
    eta = dt.datetime.fromisoformat(caught_up["eta"])
    assert eta <= caught_up["sent_at"] + dt.timedelta(seconds=dispatcher.TICK)
    assert _queued_runs() == 300


def test_runs_a_failed_publish_did_not_send_are_due_again_at_once(redis_client, esi_sim):
    """The broker refuses: the claimed chains are not left waiting for the lease (10 minutes)."""
    from celery import Celery

    from esi_tasks.queues import apply_defaults

    broken = Celery("broken", broker="redis://127.0.0.1:1/0", set_as_current=False)  # nothing listens on port 1
    apply_defaults(broken)
    broken.conf.task_publish_retry = False
    broken.conf.broker_connection_retry = False
    broken.conf.broker_connection_max_retries = 0
    import esi_tasks.tasks  # noqa: F401  (the shared tasks, registered on every app)

    keep_fresh.start_many("GetCharactersDetail", _ids(5), spread=0)
    with pytest.raises(RedisUnavailable, match="not sent"):
        dispatcher.dispatch(broken)
    now = time.time()
    assert get_redis().zcount(dispatcher.DUE_KEY, "-inf", now + dispatcher.LOOKAHEAD) == 5  # not leased
