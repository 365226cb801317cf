"""The write policy (issue 13, findings 1, 2 and 4): writes are never re-sent, scheduled only
with their own permission, and a schedule uses only tokens its editor may use; every admin
action asks Django's permissions."""

from __future__ import annotations

import json

import pytest
from celery import states
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from esi.exceptions import EsiRequestError, EsiServerError
from esi_tasks.models import EndpointSchedule
from esi_tasks.tasks import fetch_endpoint
from tests.tasks.conftest import wait_for
from tests.tasks.test_admin_schedules import ADD_URL, LIST_URL, _form

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]

MAIL = "esi-mail.send_mail.v1"
ASSETS = "esi-assets.read_assets.v1"
MAIL_BODY = {"recipients": [{"recipient_id": 90000002, "recipient_type": "character"}], "subject": "hi", "body": "x"}


def _staff(client, name: str, *codenames: str):
    user = get_user_model().objects.create_user(name, f"{name}@example.com", "pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client.force_login(user)
    return user


EDITOR = ("add_endpointschedule", "change_endpointschedule", "view_endpointschedule", "view_token")


# --- finding 4: a write is sent once ---------------------------------------------------------


def test_write_answered_503_is_sent_once(threads_worker, esi_sim, make_token, published):
    token = make_token(90000001, [MAIL])
    esi_sim.configure_route("PostCharactersCharacterIdMail", status=503)
    result = fetch_endpoint.delay("PostCharactersCharacterIdMail", character_id=90000001, body=MAIL_BODY)
    with pytest.raises(EsiServerError):
        result.get(timeout=30)
    assert result.state == states.FAILURE
    assert esi_sim.stats()["by_route"]["PostCharactersCharacterIdMail"] == {"503": 1}  # not 6
    assert len(published.of(result.id)) == 1  # never sent again
    assert token.pk


def test_lookup_post_is_still_retried(threads_worker, esi_sim, published):
    esi_sim.configure_route("PostUniverseNames", status=503)
    result = fetch_endpoint.delay("PostUniverseNames", body=[30000142])
    wait_for(lambda: esi_sim.stats()["by_route"].get("PostUniverseNames", {}).get("503", 0) >= 2, timeout=30)
    esi_sim.configure_route("PostUniverseNames", status=None)
    assert result.get(timeout=30)


# --- finding 1: who may schedule what with which token ---------------------------------------


def test_write_needs_the_write_permission(client, esi_sim, make_token):
    user = _staff(client, "editor", *EDITOR, "use_any_token")
    make_token(90000001, [MAIL], user=user)
    response = client.post(
        ADD_URL,
        _form(operation="PostCharactersCharacterIdMail", params='{"character_id": 90000001, "body": {}}'),
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "schedule_write_operations" in " ".join(errors["operation"])
    assert not EndpointSchedule.objects.exists()


def test_write_with_the_permission_is_never_kept_fresh(client, esi_sim, make_token):
    user = _staff(client, "writer", *EDITOR, "schedule_write_operations")
    token = make_token(90000001, [MAIL], user=user)
    form = _form(
        operation="PostCharactersCharacterIdMail",
        params=json.dumps({"character_id": 90000001, "body": MAIL_BODY}),
        token=str(token.pk),
        kind="keep_fresh",
        every_minutes="",
    )
    errors = client.post(ADD_URL, form).context["adminform"].form.errors
    assert "cannot be kept fresh" in " ".join(errors["kind"])
    form.update(kind="interval", every_minutes="60")
    assert client.post(ADD_URL, form).status_code == 302
    assert EndpointSchedule.objects.get().token_id == token.pk


def test_another_users_token_is_refused(client, esi_sim, make_token):
    other = get_user_model().objects.create_user("player")
    theirs = make_token(90000001, [ASSETS], user=other)
    _staff(client, "editor", *EDITOR)
    by_id = _form(operation="GetCharactersCharacterIdAssets", params='{"character_id": 90000001}', token=str(theirs.pk))
    errors = client.post(ADD_URL, by_id).context["adminform"].form.errors
    assert "belongs to another user" in " ".join(errors["token"])
    by_character = _form(operation="GetCharactersCharacterIdAssets", params='{"character_id": 90000001}')
    errors = client.post(ADD_URL, by_character).context["adminform"].form.errors
    assert "None of your tokens of character 90000001" in " ".join(errors["token"])
    assert not EndpointSchedule.objects.exists()


def test_own_token_is_pinned_and_any_token_needs_its_permission(client, esi_sim, make_token):
    other = get_user_model().objects.create_user("player")
    make_token(90000001, [ASSETS], user=other)
    editor = _staff(client, "editor", *EDITOR)
    mine = make_token(90000001, [ASSETS], user=editor)
    form = _form(operation="GetCharactersCharacterIdAssets", params='{"character_id": 90000001}')
    assert client.post(ADD_URL, form).status_code == 302
    assert EndpointSchedule.objects.get().token_id == mine.pk  # beat never picks the other user's token
    EndpointSchedule.objects.all().delete()
    _staff(client, "lead", *EDITOR, "use_any_token")
    assert client.post(ADD_URL, form).status_code == 302
    assert EndpointSchedule.objects.get().token_id is None  # picked at run time, among all tokens


# --- finding 2: admin actions ask permissions ------------------------------------------------


def test_view_only_staff_cannot_run_enable_or_disable(client, esi_sim, published):
    schedule = EndpointSchedule.objects.create(name="status", operation="GetStatus", every_minutes=5, enabled=False)
    _staff(client, "viewer", "view_endpointschedule")
    page = client.get(LIST_URL).content.decode()
    assert 'value="run_now"' not in page and 'value="enable"' not in page
    for action in ("run_now", "enable"):
        client.post(LIST_URL, {"action": action, "_selected_action": [schedule.pk]})
    assert published.messages == []
    assert EndpointSchedule.objects.get().enabled is False
    EndpointSchedule.objects.filter(pk=schedule.pk).update(enabled=True)
    client.post(LIST_URL, {"action": "disable", "_selected_action": [schedule.pk]})
    assert EndpointSchedule.objects.get().enabled is True


def test_run_now_of_a_write_needs_the_write_permission(client, esi_sim, make_token, published):
    token = make_token(90000001, [MAIL])
    schedule = EndpointSchedule.objects.create(
        name="mail",
        operation="PostCharactersCharacterIdMail",
        params={"character_id": 90000001, "body": MAIL_BODY},
        token=token,
        every_minutes=60,
        enabled=False,
    )
    _staff(client, "editor", *EDITOR, "use_any_token")
    response = client.post(LIST_URL, {"action": "run_now", "_selected_action": [schedule.pk]}, follow=True)
    assert "schedule_write_operations" in response.content.decode()
    client.post(LIST_URL, {"action": "enable", "_selected_action": [schedule.pk]})
    assert published.messages == [] and EndpointSchedule.objects.get().enabled is False


def test_a_redelivered_write_is_not_sent_again(threads_worker, esi_sim, make_token, received_signals):
    """acks_late hands a lost worker's message back: the same task must not mail twice."""
    make_token(90000001, [MAIL])
    kwargs = {"character_id": 90000001, "body": MAIL_BODY}
    first = fetch_endpoint.apply_async(("PostCharactersCharacterIdMail",), kwargs, task_id="mail-once")
    first.get(timeout=30)
    fetch_endpoint.apply_async(("PostCharactersCharacterIdMail",), kwargs, task_id="mail-once")  # the redelivery
    (failure,) = wait_for(lambda: received_signals["failed"], timeout=30)
    assert isinstance(failure["exception"], EsiRequestError) and "not sent again" in str(failure["exception"])
    assert sum(esi_sim.stats()["by_route"]["PostCharactersCharacterIdMail"].values()) == 1


def test_a_rate_limited_write_is_sent_once_later(threads_worker, esi_sim, make_token, published):
    make_token(90000001, [MAIL])
    esi_sim.configure_route("PostCharactersCharacterIdMail", status=429, retry_after=1)
    result = fetch_endpoint.delay("PostCharactersCharacterIdMail", character_id=90000001, body=MAIL_BODY)
    wait_for(lambda: [m for m in published.of(result.id) if m["requeues"] == 1], timeout=20)
    esi_sim.configure_route("PostCharactersCharacterIdMail", status=None, retry_after=None)
    result.get(timeout=30)  # ESI refused the first attempt: the re-queued one is sent
    assert esi_sim.stats()["by_route"]["PostCharactersCharacterIdMail"] == {"429": 1, "201": 1}


def test_the_token_picker_offers_only_the_editors_tokens(client, esi_sim, make_token):
    other = get_user_model().objects.create_user("player")
    theirs = make_token(90000001, [ASSETS], user=other)
    editor = _staff(client, "editor", *EDITOR)
    mine = make_token(90000002, [ASSETS], user=editor)
    query = {"app_label": "esi_tasks", "model_name": "endpointschedule", "field_name": "token", "term": ""}
    found = {int(r["id"]) for r in client.get("/admin/autocomplete/", query).json()["results"]}
    assert found == {mine.pk}
    _staff(client, "lead", *EDITOR, "use_any_token")
    found = {int(r["id"]) for r in client.get("/admin/autocomplete/", query).json()["results"]}
    assert found == {mine.pk, theirs.pk}
