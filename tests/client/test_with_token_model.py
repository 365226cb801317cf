"""The client with real esi.models.Token rows (issued by the simulator's SSO)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from esi.client import EsiClient
from esi.exceptions import MissingScope
from esi.models import Scope, Token

from .conftest import RecordingLimiter

ASSETS = "esi-assets.read_assets.v1"
WALLET = "esi-wallet.read_character_wallet.v1"


def _token(esi_sim: Any, character_id: int, scopes: list[str]) -> Token:
    esi_sim.add_character(character_id)
    issued = esi_sim.issue_tokens(character_id, scopes)
    token = Token.objects.create(
        character_id=character_id,
        character_name=f"Pilot {character_id}",
        character_owner_hash=f"owner-{character_id}",
        access_token=issued["access_token"],
        access_token_expires=timezone.now() + dt.timedelta(seconds=issued["expires_in"]),
        refresh_token=issued["refresh_token"],
        token_type="character",
    )
    for name in scopes:
        token.scopes.add(Scope.objects.get_or_create(name=name, defaults={"help_text": name})[0])
    return token


@pytest.mark.django_db
def test_call_with_a_token_row(esi_sim: Any, redis_client: Any) -> None:
    token = _token(esi_sim, 90000001, [ASSETS])
    client = EsiClient(limiter=RecordingLimiter())
    r = client.call("GetCharactersCharacterIdAssets", character_id=90000001, token=token, all_pages=True)
    assert r.status == 200 and isinstance(r.data, list)
    assert client.call("GetCharactersCharacterIdAssets", character_id=90000001, token=token).from_cache
    assert esi_sim.request_log("GetCharactersCharacterIdAssets")[-1]["character_id"] == 90000001


@pytest.mark.django_db
def test_token_row_missing_scope(esi_sim: Any, redis_client: Any) -> None:
    token = _token(esi_sim, 90000001, [ASSETS])
    client = EsiClient(limiter=RecordingLimiter())
    with pytest.raises(MissingScope, match=WALLET.replace(".", r"\.")):
        client.call("GetCharactersCharacterIdWalletTransactions", character_id=90000001, token=token)
    assert esi_sim.stats()["total"] == 0
