"""Calls against the simulator: public, secured, POST bodies, language, errors, logging."""

from __future__ import annotations

from typing import Any

import pytest

from esi.client import EsiClient
from esi.exceptions import (
    EsiErrorLimited,
    EsiForbidden,
    EsiNotFound,
    EsiRateLimited,
    EsiTransportError,
    EsiUnauthorized,
)

ASSETS = "esi-assets.read_assets.v1"


def test_public_call(client: EsiClient, esi_sim: Any) -> None:
    r = client.call("GetStatus")
    assert r.status == 200 and r.operation == "GetStatus"
    assert {"players", "server_version", "start_time"} <= set(r.data)
    assert r.etag and r.expires is not None and r.last_modified is not None
    assert not r.from_cache and not r.not_modified
    sent = esi_sim.request_log("GetStatus")[-1]["headers"]
    assert sent["x-compatibility-date"] == "2026-08-04"
    assert sent["user-agent"].startswith("django-esi-tests (tests@example.com) django-esi/")
    assert "authorization" not in sent


def test_django_esi_style_and_snake_case(client: EsiClient, esi_sim: Any) -> None:
    data = client.Status.GetStatus().result()
    assert data == client.call("get_status").data
    assert (
        client.Market.GetMarketsRegionIdOrders(region_id=10000002).result()
        == client.call("GetMarketsRegionIdOrders", region_id=10000002, order_type="all").data
    )


def test_secured_call_sends_the_token_and_names_the_character(
    client: EsiClient, esi_sim: Any, make_token: Any, limiter: Any
) -> None:
    token = make_token(90000001, [ASSETS])
    r = client.call("GetCharactersCharacterIdAssets", character_id=90000001, token=token)
    assert r.status == 200 and isinstance(r.data, list)
    entry = esi_sim.request_log("GetCharactersCharacterIdAssets")[-1]
    assert entry["character_id"] == 90000001 and entry["headers"]["authorization"].startswith("Bearer")
    assert limiter.acquired[-1] == ("char-asset", "90000001")
    assert limiter.settled[-1] == 200


def test_public_calls_use_the_app_identity(client: EsiClient, limiter: Any) -> None:
    client.call("GetMarketsPrices")
    assert limiter.acquired[-1][1] == "app"


def test_raw_access_token_string(client: EsiClient, esi_sim: Any, make_token: Any) -> None:
    token = make_token(90000001, [ASSETS])
    raw = token.valid_access_token()
    r1 = client.call("GetCharactersCharacterIdAssets", character_id=90000001, token=raw)
    r2 = client.call("GetCharactersCharacterIdAssets", character_id=90000001, token=raw)
    assert r1.data == r2.data and not r2.from_cache  # raw strings are not cached: character unverified
    group, identity = client.limits.acquired[-1]  # type: ignore[attr-defined]
    assert group == "char-asset" and identity.startswith("token:")  # its own bucket: sub is unverified
    assert esi_sim.stats()["by_route"]["GetCharactersCharacterIdAssets"]["200"] == 2


def test_forged_raw_token_cannot_spend_another_characters_budget(
    client: EsiClient, esi_sim: Any, make_token: Any
) -> None:
    """Issue 13 finding 12: the bucket of a raw string never comes from its unverified ``sub``."""
    import base64
    import json

    def part(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    forged = {
        n: f"{part({'alg': 'RS256'})}.{part({'sub': 'CHARACTER:EVE:90000001', 'n': n})}.c2lnbmF0dXJl" for n in range(3)
    }
    for n, raw in forged.items():
        with pytest.raises(EsiUnauthorized):
            client.call("GetCharactersCharacterIdAssets", character_id=90000001, token=raw)
    client.call("GetCharactersCharacterIdAssets", character_id=90000001, token=make_token(90000001, [ASSETS]))
    identities = [identity for _group, identity in client.limits.acquired]  # type: ignore[attr-defined]
    assert identities[-1] == "90000001"  # the real character's bucket...
    assert "90000001" not in identities[:-1] and len(set(identities[:-1])) == 3  # ...none of the forgeries'


def test_token_for_another_character_is_refused_by_esi(client: EsiClient, make_token: Any) -> None:
    token = make_token(90000001, [ASSETS])
    with pytest.raises(EsiForbidden) as info:
        client.call("GetCharactersCharacterIdAssets", character_id=90000002, token=token)
    assert info.value.status == 403
    secret = token.valid_access_token()
    assert secret not in str(info.value) and secret not in repr(info.value.headers) and secret not in repr(info.value)


def test_post_names_lookup(client: EsiClient, esi_sim: Any) -> None:
    r = client.call("PostUniverseNames", body=[90000001, 30000142])
    assert r.status == 200 and isinstance(r.data, list)
    entry = esi_sim.request_log("PostUniverseNames")[-1]
    assert entry["method"] == "POST"
    ids = client.call("PostUniverseIds", body=["Jita"])
    assert ids.status == 200


def test_language_header_and_separate_cache(client: EsiClient, esi_sim: Any) -> None:
    esi_sim.configure_route("GetUniverseTypesTypeId", cache_seconds=300)
    de = client.call("GetUniverseTypesTypeId", type_id=34, language="de")
    assert esi_sim.request_log("GetUniverseTypesTypeId")[-1]["headers"]["accept-language"] == "de"
    assert de.headers["content-language"] == "de"
    en = client.call("GetUniverseTypesTypeId", type_id=34)
    assert not en.from_cache  # another language is another cache entry
    assert client.call("GetUniverseTypesTypeId", type_id=34, language="de").from_cache
    assert "accept-language" not in esi_sim.request_log("GetUniverseTypesTypeId")[-1]["headers"]


@pytest.mark.parametrize(("status", "exc"), [(404, EsiNotFound), (401, EsiUnauthorized), (403, EsiForbidden)])
def test_client_errors_are_raised_and_not_retried(
    client: EsiClient, esi_sim: Any, sleeps: list[float], status: int, exc: type[Exception]
) -> None:
    esi_sim.configure_route("GetStatus", status=status)
    with pytest.raises(exc) as info:
        client.call("GetStatus")
    assert info.value.status == status and info.value.operation == "GetStatus"  # type: ignore[attr-defined]
    assert isinstance(info.value.body, dict) and "error" in info.value.body  # type: ignore[attr-defined]
    assert esi_sim.stats()["by_route"]["GetStatus"] == {str(status): 1}
    assert sleeps == []


def test_rate_limited_429(client: EsiClient, esi_sim: Any) -> None:
    esi_sim.configure_route("GetMarketsPrices", status=429, retry_after=7)
    with pytest.raises(EsiRateLimited) as info:
        client.call("GetMarketsPrices")
    assert info.value.retry_after == 7.0
    assert info.value.group == "market-price" or info.value.group


def test_error_limited_420(client: EsiClient, esi_sim: Any) -> None:
    esi_sim.configure_route("GetStatus", status=420, retry_after=33)
    with pytest.raises(EsiErrorLimited) as info:
        client.call("GetStatus")
    assert info.value.retry_after == 33.0


def test_malformed_body(client: EsiClient, esi_sim: Any) -> None:
    esi_sim.configure_route("GetStatus", malformed=True)
    with pytest.raises(EsiTransportError, match="not JSON"):
        client.call("GetStatus")


def test_one_info_line_per_request_without_the_token(client: EsiClient, make_token: Any, esi_logs: Any) -> None:
    token = make_token(90000001, [ASSETS])
    client.call("GetCharactersCharacterIdAssets", character_id=90000001, token=token)
    client.call("GetCharactersCharacterIdAssets", character_id=90000001, token=token)
    lines = [r.getMessage() for r in esi_logs.records if r.name == "esi.client"]
    assert len(lines) == 2
    assert "GET /characters/90000001/assets -> 200 (cache miss" in lines[0]
    assert "tokens left" in lines[0] or "errors left" in lines[0]
    assert "cache hit" in lines[1]
    access = token.valid_access_token()
    assert all(access not in line for line in esi_logs.text.splitlines())
    assert access[-20:] not in esi_logs.text


def test_default_client_with_the_shared_limiter(esi_sim: Any, redis_client: Any) -> None:
    from esi.client import get_client

    r = get_client().call("GetStatus", force_refresh=True)
    assert r.status == 200
