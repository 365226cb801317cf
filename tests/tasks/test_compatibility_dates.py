"""esi_tasks per compatibility date: fetches, dedup identities, error memory, schedules, admin."""

from __future__ import annotations

import json

import pytest

from esi.exceptions import EsiNotFound, OperationNotInView
from esi_tasks import scheduling
from esi_tasks._keys import fetch_identity
from esi_tasks.fetching import fetch
from esi_tasks.models import EndpointSchedule
from esi_tasks.tasks import fetch_endpoint, run_schedule
from tests.tasks.test_admin_schedules import _form as admin_form
from tests.tasks.test_admin_schedules import admin_client  # noqa: F401 - the fixture
from tests.workers import held

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]

ADD_URL = "/admin/esi_tasks/endpointschedule/add/"
PILOT = 90000001


def _dates(esi_sim, operation):
    return [e["headers"]["x-compatibility-date"] for e in esi_sim.request_log(operation)]


def test_fetch_endpoint_uses_the_client_of_its_date(threads_worker, esi_sim):
    rows = fetch_endpoint.delay("GetSovereigntyMap", compatibility_date="2020-01-01").get(timeout=20)
    assert isinstance(rows, list)
    old = fetch_endpoint.delay("GetCharactersCharacterId", compatibility_date="2020-01-01", character_id=PILOT)
    new = fetch_endpoint.delay("GetCharactersDetail", compatibility_date="2026-08-04", character_id=PILOT)
    assert old.get(timeout=20)["name"] == new.get(timeout=20)["name"] == "Harness Pilot One"
    assert _dates(esi_sim, "GetSovereigntyMap") == ["2020-01-01"]
    assert _dates(esi_sim, "GetCharactersCharacterId") == ["2020-01-01"]
    assert _dates(esi_sim, "GetCharactersDetail") == ["2026-08-04"]
    with pytest.raises(OperationNotInView, match="views of 2020-01-01"):
        fetch_endpoint.delay("GetSovereigntyMap").get(timeout=20)  # the default client is 2026-08-04


def test_the_same_fetch_for_two_dates_has_two_identities(esi_sim):
    old = fetch_identity("GetStatus", {}, compatibility_date="2020-01-01")
    new = fetch_identity("GetStatus", {}, compatibility_date="2026-08-04")
    assert old != new and old == fetch_identity("get_status", {}, compatibility_date="2020-01-01")
    # a name of another view is the same fetch as the view's own name
    assert fetch_identity("GetCharactersCharacterId", {"character_id": 1}, compatibility_date="2026-08-04") == (
        fetch_identity("GetCharactersDetail", {"character_id": 1}, compatibility_date="2026-08-04")
    )


def test_a_remembered_404_belongs_to_its_date(esi_sim, redis_client, settings):
    settings.ESI_ERROR_MEMORY_TIMEOUT = 30
    esi_sim.configure_route("GetCharactersCharacterId", status=404)
    for _ in range(2):
        with pytest.raises(EsiNotFound):
            fetch("GetCharactersCharacterId", params={"character_id": PILOT}, compatibility_date="2020-01-01")
    assert esi_sim.stats()["by_route"]["GetCharactersCharacterId"] == {"404": 1}  # the second from memory
    detail = fetch("GetCharactersCharacterId", params={"character_id": PILOT}, compatibility_date="2026-08-04")
    assert detail.operation == "GetCharactersDetail" and detail.data["name"] == "Harness Pilot One"


def test_a_schedule_keeps_its_date_and_runs_with_it(threads_worker, esi_sim):
    stamped = EndpointSchedule.objects.create(name="status", operation="GetStatus", every_minutes=5)
    assert stamped.compatibility_date == "2026-08-04"  # ESI_COMPATIBILITY_DATE when it was made
    old = EndpointSchedule.objects.create(
        name="sov", operation="GetSovereigntyMap", compatibility_date="2020-01-01", every_minutes=5
    )
    assert old.fetch_kwargs() == {"compatibility_date": "2020-01-01"}
    assert run_schedule.delay(old.pk).get(timeout=20)["schedule_id"] == old.pk
    assert EndpointSchedule.objects.get(pk=old.pk).last_status == EndpointSchedule.STATUS_OK
    assert _dates(esi_sim, "GetSovereigntyMap") == ["2020-01-01"]


def test_validation_uses_the_view_of_the_schedules_date(esi_sim):
    assert scheduling.validate("GetSovereigntyMap", {}, compatibility_date="2020-01-01") == ("GetSovereigntyMap", {})
    op_id, errors = scheduling.validate("GetSovereigntyMap", {}, compatibility_date="2026-08-04")
    assert "views of 2020-01-01" in errors["operation"]
    op_id, errors = scheduling.validate("GetCharactersCharacterId", {"character_id": PILOT}, None, "2026-08-04")
    assert op_id == "GetCharactersDetail" and errors == {}


def _form(**overrides):
    return admin_form(
        **{"name": "sov", "operation": "GetSovereigntyMap", "compatibility_date": "2020-01-01", **overrides}
    )


def test_admin_picker_and_checks_use_the_schedules_view(admin_client, esi_sim):  # noqa: F811 - the fixture
    page = admin_client.get(ADD_URL).content.decode()
    assert 'value="2026-08-04"' in page and 'value="GetFreelanceJobsListing"' in page
    assert 'value="GetSovereigntyMap"' not in page  # not in the default date's view

    refused = admin_client.post(ADD_URL, _form(compatibility_date="2026-08-04"))
    assert refused.status_code == 200 and "views of 2020-01-01" in refused.content.decode()
    bad = admin_client.post(ADD_URL, _form(compatibility_date="2019-05-01"))
    assert "is before 2020-01-01" in bad.content.decode()

    saved = admin_client.post(ADD_URL, _form())
    assert saved.status_code == 302, saved.content.decode()[:2000]
    schedule = EndpointSchedule.objects.get(name="sov")
    assert schedule.compatibility_date == "2020-01-01"
    change = admin_client.get(f"/admin/esi_tasks/endpointschedule/{schedule.pk}/change/").content.decode()
    assert 'value="GetSovereigntyMap"' in change and 'value="GetFreelanceJobsListing"' not in change
    assert json.loads(schedule.periodic_task.args) == [schedule.pk]


def test_no_date_is_the_default_clients_date(esi_sim):
    assert fetch_identity("GetStatus", {}) == fetch_identity("GetStatus", {}, compatibility_date="2026-08-04")
    assert fetch_identity("GetStatus", {"compatibility_date": "2020-01-01"}) == fetch_identity(
        "GetStatus", {}, compatibility_date="2020-01-01"
    )


def test_identical_dated_fetches_are_shared(threads_worker, esi_sim):
    with held(threads_worker):  # both are sent while the first is still queued
        first = fetch_endpoint.delay("GetSovereigntyMap", compatibility_date="2020-01-01")
        second = fetch_endpoint.delay("GetSovereigntyMap", compatibility_date="2020-01-01")
    assert second.id == first.id  # one task: the same fetch of the same view
    first.get(timeout=20)
    assert len(esi_sim.request_log("GetSovereigntyMap")) == 1


def test_migration_stamps_existing_schedules_with_the_projects_date(settings):
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    settings.ESI_COMPATIBILITY_DATE = "2025-08-26"
    before, after = (
        [("esi_tasks", "0003_endpointschedule_permissions")],
        [("esi_tasks", "0004_endpointschedule_compatibility_date")],
    )
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old_model = executor.loader.project_state(before).apps.get_model("esi_tasks", "EndpointSchedule")
    old_model.objects.create(name="made before dates", operation="GetStatus", every_minutes=5)
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(after)
    assert EndpointSchedule.objects.get(name="made before dates").compatibility_date == "2025-08-26"
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())  # leave the schema as the other tests expect
