"""esi_fetch and esi_refresh_tokens."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from esi.models import Token

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


def run(*args):
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_esi_fetch_prints_json(esi_sim, redis_client):
    data = json.loads(run("esi_fetch", "GetCharactersDetail", "character_id=90000001"))
    assert data["name"] == "Harness Pilot One"


def test_esi_fetch_secured_with_token(esi_sim, redis_client, make_token):
    make_token(90000001, ["esi-assets.read_assets.v1"])
    data = json.loads(run("esi_fetch", "get_characters_character_id_assets", "character_id=90000001", "--indent=0"))
    assert isinstance(data, list)


def test_esi_fetch_enqueue_through_worker(threads_worker, esi_sim):
    data = json.loads(run("esi_fetch", "GetStatus", "--enqueue"))
    assert "players" in data
    assert "task_id" in json.loads(run("esi_fetch", "GetStatus", "--enqueue", "--no-wait"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["GetStatuss"], "UnknownOperation: ESI has no operation 'GetStatuss'"),
        (["GetCharactersDetail", "character_id"], "name=value"),
        (["GetCharactersDetail", "character_id=abc"], "InvalidParameter"),
        (["GetCharactersCharacterIdAssets", "character_id=90000001"], "NoTokenError"),
    ],
)
def test_esi_fetch_errors(esi_sim, redis_client, args, message):
    with pytest.raises(CommandError, match=message):
        run("esi_fetch", *args)


def test_esi_refresh_tokens_with_progress(esi_sim, redis_client, make_token):
    now = timezone.now()
    tokens = [make_token(90000001, ["esi-assets.read_assets.v1"]) for _ in range(3)]
    Token.objects.filter(pk__in=[t.pk for t in tokens[:2]]).update(access_token_expires=now + dt.timedelta(minutes=1))
    revoked = tokens[2]
    Token.objects.filter(pk=revoked.pk).update(updated=now - dt.timedelta(days=3))
    esi_sim.revoke_refresh_token(revoked.refresh_token)
    out = run("esi_refresh_tokens", "--concurrency=2")
    assert "3/3 tokens  invalid=1 refreshed=2" in out.splitlines()
    assert "3 token(s): 1 invalid, 2 refreshed" in out
    assert not Token.objects.filter(pk=revoked.pk).exists()
    out = run("esi_refresh_tokens", "--all")
    assert "2 token(s): 2 refreshed" in out


def test_esi_refresh_tokens_enqueue(threads_worker, esi_sim):
    from celery.result import AsyncResult

    task_id = json.loads(run("esi_refresh_tokens", "--enqueue"))["task_id"]
    assert AsyncResult(task_id).get(timeout=20)["tokens"] == 0
