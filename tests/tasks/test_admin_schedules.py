"""The "ESI endpoint schedule" admin, its beat entries, and beat firing them through a worker."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from esi_tasks import keep_fresh, scheduling
from esi_tasks.models import EndpointSchedule
from tests.tasks.conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]

ADD_URL = "/admin/esi_tasks/endpointschedule/add/"
LIST_URL = "/admin/esi_tasks/endpointschedule/"


@pytest.fixture
def admin_client(client):
    user = get_user_model().objects.create_superuser("admin", "admin@example.com", "pw")
    client.force_login(user)
    return client


def _form(**overrides):
    data = {
        "name": "Jita status",
        "operation": "GetStatus",
        "params": "{}",
        "token": "",
        "language": "",
        "kind": "interval",
        "every_minutes": "5",
        "crontab": "",
        "enabled": "on",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_add_page_offers_searchable_operations(admin_client, esi_sim):
    page = admin_client.get(ADD_URL).content.decode()
    assert '<datalist id="esi-operations">' in page
    assert 'value="GetMarketsRegionIdOrders"' in page


def test_schedule_created_in_admin_gets_a_spread_beat_entry(admin_client, esi_sim):
    response = admin_client.post(
        ADD_URL, _form(name="orders", operation="get_markets_region_id_orders", params='{"region_id": 10000002}')
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    schedule = EndpointSchedule.objects.get(name="orders")
    assert schedule.operation == "GetMarketsRegionIdOrders"  # alias resolved
    task = schedule.periodic_task
    assert task.task == "esi_tasks.run_schedule" and json.loads(task.args) == [schedule.pk]
    assert task.interval.every == 5 and task.interval.period == "minutes"
    assert schedule.offset_seconds == scheduling.stable_offset("orders", 300)
    assert int(task.start_time.timestamp()) % 300 == schedule.offset_seconds
    # another name, another offset; same name, same offset everywhere
    assert scheduling.stable_offset("orders", 300) == scheduling.stable_offset("orders", 300)
    assert len({scheduling.stable_offset(f"s{i}", 300) for i in range(20)}) > 10


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"operation": "GetMarketsRegionIdOrder"}, "operation", "Did you mean"),
        ({"operation": "GetMarketsRegionIdOrders", "params": '{"regionid": 1}'}, "params", "regionid"),
        ({"operation": "GetMarketsRegionIdOrders", "params": '{"region_id": "Jita"}'}, "params", "region_id"),
        (
            {"operation": "GetCharactersCharacterIdAssets", "params": '{"character_id": 90000001}'},
            "token",
            "No stored token",
        ),
        ({"kind": "interval", "every_minutes": ""}, "every_minutes", "minutes"),
        ({"kind": "crontab", "crontab": "*/5 * *"}, "crontab", "5 fields"),
        ({"kind": "crontab", "crontab": "99 * * * *"}, "crontab", "Not a valid crontab"),
        ({"language": "xx"}, "language", "not 'xx'"),
        (
            {"operation": "GetCharactersCharacterIdAssets", "params": '{"character_id": "abc"}'},
            "params",
            "character_id",
        ),
    ],
    ids=[
        "unknown-op",
        "unknown-param",
        "bad-type",
        "no-token",
        "no-minutes",
        "short-cron",
        "bad-cron",
        "language",
        "bad-character-id",
    ],
)
def test_form_shows_what_is_wrong(admin_client, esi_sim, overrides, field, message):
    response = admin_client.post(ADD_URL, _form(**overrides))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert field in errors, errors
    assert message in " ".join(errors[field])
    assert not EndpointSchedule.objects.exists()


def test_token_without_the_scope_is_refused(admin_client, esi_sim, make_token):
    token = make_token(90000001, ["esi-skills.read_skills.v1"])
    response = admin_client.post(
        ADD_URL,
        _form(operation="GetCharactersCharacterIdAssets", params='{"character_id": 90000001}', token=str(token.pk)),
    )
    errors = response.context["adminform"].form.errors
    assert "esi-assets.read_assets.v1" in " ".join(errors["token"])


def test_crontab_every_n_minutes_is_spread():
    assert scheduling.spread_crontab_minute("*/15", "a") == f"{scheduling.stable_offset('a', 15)}-59/15"
    assert scheduling.spread_crontab_minute("7", "a") == "7"


def test_beat_fires_admin_schedule_and_the_run_is_recorded(admin_client, threads_worker, esi_sim, celery_app):
    from django_celery_beat.schedulers import DatabaseScheduler

    admin_client.post(ADD_URL, _form(name="status every minute", every_minutes="1"))
    schedule = EndpointSchedule.objects.get(name="status every minute")
    # time passes until the schedule's offset within its minute
    PeriodicTask.objects.filter(pk=schedule.periodic_task_id).update(
        start_time=timezone.now() - dt.timedelta(seconds=1), last_run_at=None
    )
    scheduler = DatabaseScheduler(app=celery_app, lazy=False)
    scheduler.tick()
    wait_for(lambda: EndpointSchedule.objects.get(pk=schedule.pk).last_status == "ok", timeout=20)
    schedule.refresh_from_db()
    assert schedule.last_run_at is not None
    assert schedule.last_result_items == 3 and schedule.last_result_bytes > 20
    assert esi_sim.stats()["by_route"]["GetStatus"] == {"200": 1}
    assert PeriodicTask.objects.get(pk=schedule.periodic_task_id).total_run_count == 1


def test_run_now_action_and_failure_shown(admin_client, threads_worker, esi_sim, settings, received_signals):
    settings.ESI_ERROR_MEMORY_TIMEOUT = 30
    admin_client.post(ADD_URL, _form(name="ok", every_minutes="10"))
    admin_client.post(
        ADD_URL,
        _form(name="missing", operation="GetCharactersDetail", params='{"character_id": 1}', every_minutes="10"),
    )
    esi_sim.configure_route("GetCharactersDetail", status=404)
    ids = list(EndpointSchedule.objects.values_list("pk", flat=True))
    response = admin_client.post(LIST_URL, {"action": "run_now", "_selected_action": ids}, follow=True)
    assert "Queued 2 schedule(s)" in response.content.decode()
    wait_for(lambda: set(EndpointSchedule.objects.values_list("last_status", flat=True)) == {"ok", "failed"}, 20)
    failed = EndpointSchedule.objects.get(name="missing")
    assert "404" in failed.last_error
    wait_for(lambda: received_signals["failed"], timeout=5)  # sent after the failure is stored
    assert [(f["operation"], f["params"]) for f in received_signals["failed"]] == [
        ("GetCharactersDetail", {"character_id": 1})
    ]
    assert [f["operation"] for f in received_signals["fetched"]] == ["GetStatus"]
    page = admin_client.get(LIST_URL).content.decode()
    assert "failed" in page and "ok" in page


def test_keep_fresh_schedule_starts_and_stops_a_chain(admin_client, threads_worker, esi_sim):
    esi_sim.configure_route("GetStatus", cache_seconds=60)
    admin_client.post(ADD_URL, _form(name="fresh status", kind="keep_fresh", every_minutes=""))
    schedule = EndpointSchedule.objects.get(name="fresh status")
    assert schedule.periodic_task.interval.every == scheduling.KEEP_FRESH_WATCHDOG_MINUTES
    from esi_tasks.tasks import run_schedule

    result = run_schedule.delay(schedule.pk).get(timeout=20)
    assert result["status"] == "keeping fresh"
    assert keep_fresh.is_active(result["chain_id"])
    wait_for(lambda: esi_sim.stats()["by_route"].get("GetStatus"), timeout=20)
    # running the watchdog again keeps the one chain
    assert run_schedule.delay(schedule.pk).get(timeout=20)["chain_id"] == result["chain_id"]
    schedule.delete()
    assert not keep_fresh.is_active(result["chain_id"])
    assert not PeriodicTask.objects.filter(name="esi endpoint: fresh status").exists()


def test_disabling_disables_the_beat_entry(admin_client, esi_sim):
    admin_client.post(ADD_URL, _form(name="x"))
    schedule = EndpointSchedule.objects.get(name="x")
    admin_client.post(LIST_URL, {"action": "disable", "_selected_action": [schedule.pk]})
    assert PeriodicTask.objects.get(pk=schedule.periodic_task_id).enabled is False


def test_default_schedules_installed_by_migration_and_command(esi_sim):
    import importlib

    from django.apps import apps
    from django.core.management import call_command

    PeriodicTask.objects.all().delete()  # transactional tests start from an empty table anyway
    migration = importlib.import_module("esi_tasks.migrations.0002_default_schedules")
    migration.install(apps, None)
    task = PeriodicTask.objects.get(name="esi: refresh tokens")
    assert task.interval.every == 300 and task.interval.period == "seconds"
    assert json.loads(task.kwargs) == {"interval": 300}
    cleanup = PeriodicTask.objects.get(name="esi: clean up SSO logins")
    assert cleanup.task == "esi_tasks.cleanup_callback_redirects" and cleanup.interval.every == 3600
    assert task.task == "esi_tasks.refresh_tokens" and task.enabled
    task.enabled = False
    task.save()
    call_command("esi_setup_schedules")
    assert PeriodicTask.objects.get(name="esi: refresh tokens").enabled is False  # admin edits are kept
    call_command("esi_setup_schedules", "--reset")
    assert PeriodicTask.objects.get(name="esi: refresh tokens").enabled is True


def test_changing_a_keep_fresh_schedule_stops_the_old_chain(esi_sim, redis_client):
    schedule = EndpointSchedule.objects.create(
        name="fresh", operation="GetCharactersDetail", params={"character_id": 90000001}, kind="keep_fresh"
    )
    task = schedule.periodic_task
    assert task.start_time is not None and task.start_time <= timezone.now()  # due at beat's next tick
    old_chain = keep_fresh.start("GetCharactersDetail", character_id=90000001)
    schedule.params = {"character_id": 90000002}
    schedule.save()
    assert not keep_fresh.is_active(old_chain)
    new_chain = keep_fresh.start("GetCharactersDetail", character_id=90000002)
    schedule.kind, schedule.every_minutes = "interval", 5
    schedule.save()
    assert not keep_fresh.is_active(new_chain)


@pytest.mark.slow
def test_real_beat_process_fires_admin_schedule(admin_client, threads_worker, esi_sim, tmp_path):
    """``celery beat`` with the DatabaseScheduler, run briefly in a subprocess."""
    import subprocess
    import sys

    from tests.tasks.conftest import ROOT, subprocess_env

    admin_client.post(ADD_URL, _form(name="beat status", every_minutes="1"))
    schedule = EndpointSchedule.objects.get(name="beat status")
    PeriodicTask.objects.filter(pk=schedule.periodic_task_id).update(
        start_time=timezone.now() - dt.timedelta(seconds=1), last_run_at=None
    )
    beat = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "tests.celery_app", "beat", "-l", "WARNING",
         "-S", "django_celery_beat.schedulers:DatabaseScheduler", "--pidfile", str(tmp_path / "beat.pid")],
        cwd=ROOT, env=subprocess_env(esi_sim.url), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        # Until beat has written its run count too: it saves it just after the send, and a SIGTERM
        # during that save (the task can be done first) raises SystemExit inside it, losing the count.
        wait_for(
            lambda: (
                EndpointSchedule.objects.get(pk=schedule.pk).last_status == "ok"
                and PeriodicTask.objects.get(pk=schedule.periodic_task_id).total_run_count >= 1
            ),
            timeout=30,
        )
    finally:
        beat.terminate()
        beat.wait(timeout=20)
        beat.stderr.close()
    assert esi_sim.stats()["by_route"]["GetStatus"] == {"200": 1}
    assert PeriodicTask.objects.get(pk=schedule.periodic_task_id).total_run_count >= 1


def test_a_schedule_saved_without_a_name_is_named_after_its_operation(admin_client, esi_sim, make_token):
    for _ in range(2):
        response = admin_client.post(ADD_URL, _form(name=""))
        assert response.status_code == 302, response.context["adminform"].form.errors
    make_token(90000001, ["esi-assets.read_assets.v1"])
    admin_client.post(
        ADD_URL, _form(name="", operation="GetCharactersCharacterIdAssets", params='{"character_id": 90000001}')
    )
    assert sorted(EndpointSchedule.objects.values_list("name", flat=True)) == [
        "GetCharactersCharacterIdAssets character_id=90000001",
        "GetStatus",
        "GetStatus (2)",
    ]


def test_the_list_explains_the_schedule_and_keeps_its_status_columns_narrow(admin_client, esi_sim):
    admin_client.post(ADD_URL, _form(name="status", every_minutes="5"))
    schedule = EndpointSchedule.objects.get(name="status")
    page = admin_client.get(LIST_URL).content.decode()
    minutes, seconds = divmod(schedule.offset_seconds, 60)
    into = f"{minutes} min {seconds} s" if minutes else f"{seconds} s"
    assert f"every 5 min, {into} into each period</span>" in page
    assert 'title="Each schedule starts at its own fixed offset within the period' in page
    headers = re.findall(r'<th scope="col" class="[^"]*column-(\w+)', page)
    assert headers[:4] == ["name", "last_status", "last_run", "last_result"]  # in view at 1280 px
    assert headers[4:] == ["enabled", "schedule", "operation", "view"]
    assert '<td class="field-last_run">never</td>' in page and '<td class="field-last_result">-</td>' in page
