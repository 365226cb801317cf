"""Token resolution: explicit token_id, by character_id, by corporation_id; clear errors otherwise."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from esi.client import get_client
from esi.exceptions import NoTokenError
from esi_tasks.tasks import fetch_endpoint
from esi_tasks.tokens import resolve_token

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]

ASSETS = "esi-assets.read_assets.v1"
CORP_ASSETS = "esi-assets.read_corporation_assets.v1"


def op(name):
    return get_client().spec.get(name)


def test_secured_fetch_through_worker_uses_the_characters_token(threads_worker, esi_sim, make_token):
    token = make_token(90000001, [ASSETS])
    data = fetch_endpoint.delay("GetCharactersCharacterIdAssets", character_id=90000001).get(timeout=20)
    assert isinstance(data, list)
    log = esi_sim.request_log("GetCharactersCharacterIdAssets")
    assert [entry["character_id"] for entry in log] == [90000001]
    assert token.pk


def test_explicit_token_id_is_used(threads_worker, esi_sim, make_token):
    make_token(90000001, [ASSETS])
    other = make_token(90000002, [ASSETS])
    fetch_endpoint.delay("GetCharactersCharacterIdAssets", character_id=90000002, token_id=other.pk).get(timeout=20)
    assert [e["character_id"] for e in esi_sim.request_log("GetCharactersCharacterIdAssets")] == [90000002]


def test_freshest_token_with_the_scopes_is_picked(esi_sim, redis_client, make_token):
    make_token(90000001, ["esi-skills.read_skills.v1"])  # wrong scope
    older = make_token(90000001, [ASSETS], expires_in=600)
    newer = make_token(90000001, [ASSETS], expires_in=1199)
    assert resolve_token(op("GetCharactersCharacterIdAssets"), {"character_id": 90000001}).pk == newer.pk
    assert older.pk != newer.pk


def test_public_operation_needs_no_token(esi_sim, redis_client):
    assert resolve_token(op("GetStatus"), {}) is None


def test_no_token_of_the_character_names_the_scope(esi_sim, redis_client, make_token):
    make_token(90000001, ["esi-skills.read_skills.v1"])
    with pytest.raises(NoTokenError, match=r"character 90000001.*esi-assets\.read_assets\.v1"):
        resolve_token(op("GetCharactersCharacterIdAssets"), {"character_id": 90000001})


def test_token_id_lacking_the_scope_is_refused(esi_sim, redis_client, make_token):
    token = make_token(90000001, ["esi-skills.read_skills.v1"])
    with pytest.raises(NoTokenError, match=r"lacks the scope\(s\) esi-assets\.read_assets\.v1"):
        resolve_token(op("GetCharactersCharacterIdAssets"), {"character_id": 90000001}, token.pk)


def test_unknown_token_id_is_refused(esi_sim, redis_client):
    with pytest.raises(NoTokenError, match="no token with id 424242"):
        resolve_token(op("GetStatus"), {}, 424242)


def test_secured_operation_without_character_asks_for_token_id(esi_sim, redis_client):
    with pytest.raises(NoTokenError, match="pass token_id"):
        resolve_token(op("GetFleetsFleetId"), {"fleet_id": 1})


def test_expired_token_is_refreshed_before_use(esi_sim, redis_client, make_token):
    token = make_token(90000001, [ASSETS])
    token.access_token_expires = timezone.now() - dt.timedelta(minutes=5)
    token.save()
    chosen = resolve_token(op("GetCharactersCharacterIdAssets"), {"character_id": 90000001})
    assert chosen.pk == token.pk
    assert chosen.access_token_expires > timezone.now()
    assert esi_sim.stats()["sso"]["token_refresh_token"] == 1


def test_token_refused_by_sso_is_skipped_for_another(esi_sim, redis_client, make_token):
    good = make_token(90000001, [ASSETS], expires_in=600)
    bad = make_token(90000001, [ASSETS])
    bad.access_token_expires = timezone.now() + dt.timedelta(minutes=30)  # looks freshest
    bad.save()
    esi_sim.revoke_refresh_token(bad.refresh_token)
    bad.access_token_expires = timezone.now() - dt.timedelta(minutes=1)  # must be refreshed: fails
    bad.save()
    chosen = resolve_token(op("GetCharactersCharacterIdAssets"), {"character_id": 90000001})
    assert chosen.pk == good.pk


def test_corporation_token_is_found_through_affiliation(threads_worker, esi_sim, make_token):
    esi_sim.add_character(90000011, name="Corp Member", corporation_id=98000005)
    esi_sim.add_character(90000012, name="Other Corp", corporation_id=98000006)
    make_token(90000012, [CORP_ASSETS])
    member = make_token(90000011, [CORP_ASSETS])
    chosen = resolve_token(op("GetCorporationsCorporationIdAssets"), {"corporation_id": 98000005})
    assert chosen.pk == member.pk
    fetch_endpoint.delay("GetCorporationsCorporationIdAssets", corporation_id=98000005).get(timeout=20)
    assert [e["character_id"] for e in esi_sim.request_log("GetCorporationsCorporationIdAssets")] == [90000011]
    with pytest.raises(NoTokenError, match="No character of corporation 98000007 can serve"):
        resolve_token(op("GetCorporationsCorporationIdAssets"), {"corporation_id": 98000007})
    # one affiliation request for both characters; the answers are cached in Redis
    log = esi_sim.request_log("PostCharactersAffiliation")
    assert len(log) == 1 and log[0]["method"] == "POST"


def test_affiliation_changes_are_seen_after_forgetting(esi_sim, redis_client, make_token):
    from esi_tasks.tokens import forget_affiliation

    esi_sim.add_character(90000011, corporation_id=98000005)
    token = make_token(90000011, [CORP_ASSETS])
    assert resolve_token(op("GetCorporationsCorporationIdAssets"), {"corporation_id": 98000005}).pk == token.pk
    esi_sim.add_character(90000011, corporation_id=98000006)  # the character moved
    forget_affiliation(90000011)
    assert resolve_token(op("GetCorporationsCorporationIdAssets"), {"corporation_id": 98000006}).pk == token.pk
    assert len(esi_sim.request_log("PostCharactersAffiliation")) == 2


def test_no_token_error_through_worker(threads_worker, esi_sim):
    with pytest.raises(NoTokenError, match=r"esi-assets\.read_assets\.v1"):
        fetch_endpoint.delay("GetCharactersCharacterIdAssets", character_id=90000001).get(timeout=20)
    assert esi_sim.stats()["total"] == 0
