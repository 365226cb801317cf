"""Redis cache: hits without HTTP, TTL from Expires, ETag revalidation, isolation, compact values."""

from __future__ import annotations

import json
import time
from typing import Any

import redis as redis_lib
from django.test import override_settings

from esi.client import EsiClient
from esi.client._cache import STALE_KEEP, CacheEntry

from .conftest import CountingRedis, RecordingLimiter

ASSETS = "esi-assets.read_assets.v1"


def _keys(r: redis_lib.Redis) -> list[bytes]:
    return sorted(r.scan_iter("esi:cache:*"))


def test_cache_hit_costs_one_redis_command_and_no_http(esi_sim: Any, redis_client: redis_lib.Redis) -> None:
    counting = CountingRedis(redis_client)
    client = EsiClient(limiter=RecordingLimiter(), redis_factory=lambda: counting)  # type: ignore[arg-type,return-value]
    first = client.call("GetStatus")
    before = esi_sim.stats()["total"]
    counting.calls.clear()
    second = client.call("GetStatus")
    assert second.from_cache and not second.not_modified
    assert second.data == first.data and second.etag == first.etag and second.expires == first.expires
    assert counting.calls == ["get"]
    assert esi_sim.stats()["total"] == before


def test_ttl_follows_expires(client: EsiClient, esi_sim: Any, redis_client: redis_lib.Redis) -> None:
    esi_sim.configure_route("GetStatus", cache_seconds=120)
    r = client.call("GetStatus")
    (key,) = _keys(redis_client)
    ttl = redis_client.pttl(key) / 1000
    assert 120 + STALE_KEEP - 5 <= ttl <= 120 + STALE_KEEP + 1
    entry = CacheEntry.load(redis_client.get(key))  # type: ignore[arg-type]
    assert entry is not None and entry.etag == r.etag
    assert abs(entry.fresh_until - (time.time() + 120)) < 5
    assert r.expires is not None and abs(r.expires.timestamp() - (time.time() + 120)) < 5


def test_expired_entry_revalidates_with_etag_and_304(esi_sim: Any, redis_client: redis_lib.Redis) -> None:
    esi_sim.configure_route("GetStatus", cache_seconds=60)
    offset = [0.0]
    client = EsiClient(limiter=RecordingLimiter(), clock=lambda: time.time() + offset[0])
    first = client.call("GetStatus")
    offset[0] = 61.0  # past Expires
    second = client.call("GetStatus")
    assert second.not_modified and second.status == 304 and not second.from_cache
    assert second.data == first.data
    sent = esi_sim.request_log("GetStatus")[-1]["headers"]
    assert sent["if-none-match"] == first.etag
    assert esi_sim.stats()["by_route"]["GetStatus"] == {"200": 1, "304": 1}
    third = client.call("GetStatus")  # the 304 extended the entry's life
    assert third.from_cache
    assert esi_sim.stats()["total"] == 2


def test_changed_body_after_expiry_is_replaced(esi_sim: Any, redis_client: redis_lib.Redis) -> None:
    esi_sim.configure_route("GetStatus", cache_seconds=60)
    offset = [0.0]
    client = EsiClient(limiter=RecordingLimiter(), clock=lambda: time.time() + offset[0])
    first = client.call("GetStatus")
    esi_sim.configure_route("GetStatus", body_version=2)
    offset[0] = 61.0
    second = client.call("GetStatus")
    assert second.status == 200 and not second.not_modified and second.etag != first.etag
    offset[0] = 62.0
    assert client.call("GetStatus").data == second.data


def test_an_answer_without_expires_is_not_fresh() -> None:
    # ESI sends Expires on whatever it wants cached; django-esi 10 cached nothing else either,
    # and apps' tests (mocked answers without Expires) count on asking again.
    now = time.time()
    bare = CacheEntry.from_response(b"{}", {}, now)
    with_etag = CacheEntry.from_response(b"{}", {"etag": '"abc"'}, now)
    assert bare.fresh_until == with_etag.fresh_until == now
    assert with_etag.etag == '"abc"'  # still kept to revalidate cheaply


def test_force_refresh_bypasses_the_fresh_entry(client: EsiClient, esi_sim: Any) -> None:
    first = client.call("GetStatus")
    r = client.call("GetStatus", force_refresh=True)
    assert not r.from_cache and r.not_modified and r.data == first.data  # asked ESI, cheaply (304)
    assert esi_sim.request_log("GetStatus")[-1]["headers"]["if-none-match"] == first.etag
    assert esi_sim.stats()["total"] == 2


@override_settings(ESI_CACHE_RESPONSE=False)
def test_cache_can_be_switched_off(client: EsiClient, esi_sim: Any, redis_client: redis_lib.Redis) -> None:
    client.call("GetStatus")
    assert not client.call("GetStatus").from_cache
    assert esi_sim.stats()["total"] == 2 and _keys(redis_client) == []


def test_secured_responses_are_isolated_per_character(
    client: EsiClient, esi_sim: Any, make_token: Any, redis_client: redis_lib.Redis
) -> None:
    one, two = make_token(90000001, [ASSETS]), make_token(90000002, [ASSETS])
    a1 = client.call("GetCharactersCharacterIdAssets", character_id=90000001, token=one)
    a2 = client.call("GetCharactersCharacterIdAssets", character_id=90000002, token=two)
    assert not a2.from_cache and a1.data != a2.data
    keys = _keys(redis_client)
    assert len(keys) == 2 and any(b":90000001:" in k for k in keys) and any(b":90000002:" in k for k in keys)
    assert client.call("GetCharactersCharacterIdAssets", character_id=90000001, token=one).from_cache
    fetched = one.fetched
    client.call("GetCharactersCharacterIdAssets", character_id=90000001, token=one)
    assert one.fetched == fetched  # a cache hit needs no access token (no refresh, no DB)


def test_large_bodies_are_stored_compressed() -> None:
    body = json.dumps(
        [{"order_id": i, "type_id": 34, "price": 5.5, "is_buy_order": False} for i in range(2000)]
    ).encode()
    entry = CacheEntry(body=body, fresh_until=1.0, etag='"abc"', expires=2.0, last_modified=0.5, pages=3)
    raw = entry.dump()
    assert raw[2:3] == b"z" and len(raw) < len(body) / 4
    back = CacheEntry.load(raw)
    assert back == entry and back is not None and back.data() == json.loads(body)
    small = CacheEntry(body=b"[1]", fresh_until=1.0)
    assert small.dump()[2:3] == b"j" and CacheEntry.load(small.dump()) == small


def test_unreadable_entry_is_ignored(client: EsiClient, esi_sim: Any, redis_client: redis_lib.Redis) -> None:
    client.call("GetStatus")
    (key,) = _keys(redis_client)
    redis_client.set(key, b"E2z\x00\x01garbage")
    assert not client.call("GetStatus").from_cache
    assert client.call("GetStatus").from_cache


def test_compatibility_date_is_part_of_the_key_and_settings_changes_apply(client: EsiClient, esi_sim: Any) -> None:
    client.call("GetStatus")
    assert client.call("GetStatus").from_cache
    with override_settings(ESI_COMPATIBILITY_DATE="2025-01-01"):
        r = client.call("GetStatus")
        assert not r.from_cache
        assert esi_sim.request_log("GetStatus")[-1]["headers"]["x-compatibility-date"] == "2025-01-01"
        assert client.call("GetStatus").from_cache
    assert client.call("GetStatus").from_cache  # back to the first date: its entry is still there
    assert esi_sim.request_log("GetStatus")[-1]["headers"]["x-compatibility-date"] == "2025-01-01"
    assert len(esi_sim.request_log("GetStatus")) == 2  # (and the view of 2025-01-01 was fetched once)


def test_a_redis_outage_degrades_to_no_cache(esi_sim: Any, esi_logs: Any) -> None:
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    dead = redis_lib.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    client = EsiClient(limiter=RecordingLimiter(), redis_factory=lambda: dead)
    assert client.call("GetStatus").status == 200
    assert not client.call("GetStatus").from_cache
    assert esi_sim.stats()["total"] == 2
    assert "cache read failed" in esi_logs.text
