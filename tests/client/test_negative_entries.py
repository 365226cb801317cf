"""Remembered 403/404 answers are negative entries of the response cache: direct client users get
them too, from the same one read as a hit, for ESI's Expires on the error (capped by a setting)."""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis as redis_lib

from esi.client import EsiClient
from esi.client._cache import CacheEntry
from esi.exceptions import EsiClientError, EsiForbidden, EsiNotFound, EsiServerError

from .conftest import CountingRedis, RecordingLimiter, SimToken

DETAIL = "GetCharactersDetail"


def _entries(r: redis_lib.Redis) -> list[CacheEntry]:
    return [e for k in r.scan_iter("esi:cache:*") if (e := CacheEntry.load(r.get(k))) is not None]  # type: ignore[arg-type]


def test_a_404_is_raised_again_from_one_cache_read(esi_sim: Any, redis_client: redis_lib.Redis) -> None:
    esi_sim.configure_route(DETAIL, status=404)
    counting = CountingRedis(redis_client)
    client = EsiClient(limiter=RecordingLimiter(), redis_factory=lambda: counting)  # type: ignore[arg-type,return-value]
    with pytest.raises(EsiNotFound) as first:
        client.call(DETAIL, character_id=90000001)
    counting.calls.clear()
    with pytest.raises(EsiNotFound, match="remembered") as second:
        client.call(DETAIL, character_id=90000001)
    assert counting.calls == ["get"]  # the same one round trip as a cache hit
    assert second.value.status == first.value.status == 404 and second.value.body == first.value.body
    assert second.value.operation == DETAIL
    assert esi_sim.stats()["by_route"][DETAIL] == {"404": 1}
    with pytest.raises(EsiNotFound):  # other parameters are asked
        client.call(DETAIL, character_id=90000002)
    assert esi_sim.stats()["by_route"][DETAIL] == {"404": 2}


def test_the_error_s_expires_is_honoured_under_the_cap(
    esi_sim: Any, redis_client: redis_lib.Redis, settings: Any
) -> None:
    settings.ESI_ERROR_MEMORY_TIMEOUT = 300
    esi_sim.configure_route(DETAIL, status=404, cache_seconds=20)
    client = EsiClient(limiter=RecordingLimiter())
    with pytest.raises(EsiNotFound):
        client.call(DETAIL, character_id=90000001)
    (entry,) = _entries(redis_client)
    assert entry.is_error and 18 <= entry.fresh_until - time.time() <= 21  # Expires - Date, both cut to the second
    (key,) = redis_client.scan_iter("esi:cache:*")
    assert redis_client.pttl(key) <= 21_000  # gone when it stops being answered
    redis_client.flushdb()
    settings.ESI_ERROR_MEMORY_TIMEOUT = 5  # the cap wins over a longer Expires
    with pytest.raises(EsiNotFound):
        client.call(DETAIL, character_id=90000001)
    (entry,) = _entries(redis_client)
    assert 4 <= entry.fresh_until - time.time() <= 5


def test_a_lapsed_negative_entry_asks_esi_without_if_none_match(esi_sim: Any, redis_client: redis_lib.Redis) -> None:
    offset = [0.0]
    client = EsiClient(limiter=RecordingLimiter(), clock=lambda: time.time() + offset[0])
    esi_sim.configure_route(DETAIL, status=404, cache_seconds=20)
    with pytest.raises(EsiNotFound):
        client.call(DETAIL, character_id=90000001)
    offset[0] = 21.0  # the entry is still in Redis for this clock, but no longer answered
    esi_sim.configure_route(DETAIL, status=None)
    answer = client.call(DETAIL, character_id=90000001)
    assert answer.status == 200 and answer.data["name"]
    assert "if-none-match" not in esi_sim.request_log(DETAIL)[-1]["headers"]
    assert esi_sim.stats()["by_route"][DETAIL] == {"404": 1, "200": 1}


def test_a_later_answer_replaces_a_remembered_one(esi_sim: Any, redis_client: redis_lib.Redis) -> None:
    client = EsiClient(limiter=RecordingLimiter())
    esi_sim.configure_route(DETAIL, status=404)
    with pytest.raises(EsiNotFound):
        client.call(DETAIL, character_id=90000001)
    esi_sim.configure_route(DETAIL, status=None)
    assert client.call(DETAIL, character_id=90000001, force_refresh=True).status == 200  # asked on purpose
    assert client.call(DETAIL, character_id=90000001).from_cache
    assert [e.status for e in _entries(redis_client)] == [200]


def test_a_403_is_remembered_per_character(esi_sim: Any, redis_client: redis_lib.Redis) -> None:
    client = EsiClient(limiter=RecordingLimiter())
    scopes = ["esi-assets.read_assets.v1"]
    one, two = SimToken(esi_sim, 90000001, scopes), SimToken(esi_sim, 90000002, scopes)
    esi_sim.configure_route("GetCharactersCharacterIdAssets", status=403)
    for token in (one, one, two):
        with pytest.raises(EsiForbidden):
            client.call("GetCharactersCharacterIdAssets", character_id=token.character_id, token=token)
    assert esi_sim.stats()["by_route"]["GetCharactersCharacterIdAssets"] == {"403": 2}


@pytest.mark.parametrize("status", [400, 401, 500, 503])
def test_other_errors_are_not_remembered(
    esi_sim: Any, redis_client: redis_lib.Redis, settings: Any, status: int
) -> None:
    settings.ESI_SERVER_ERROR_MAX_RETRIES = 0
    client = EsiClient(limiter=RecordingLimiter())
    esi_sim.configure_route(DETAIL, status=status)
    for _ in range(2):
        with pytest.raises((EsiServerError, EsiClientError)):
            client.call(DETAIL, character_id=90000001)
    assert esi_sim.stats()["by_route"][DETAIL] == {str(status): 2}
    assert _entries(redis_client) == []


def test_zero_turns_it_off(esi_sim: Any, redis_client: redis_lib.Redis, settings: Any) -> None:
    settings.ESI_ERROR_MEMORY_TIMEOUT = 0
    client = EsiClient(limiter=RecordingLimiter())
    esi_sim.configure_route(DETAIL, status=404, cache_seconds=60)
    for _ in range(2):
        with pytest.raises(EsiNotFound):
            client.call(DETAIL, character_id=90000001)
    assert esi_sim.stats()["by_route"][DETAIL] == {"404": 2}


def test_entries_written_before_negative_entries_are_still_read() -> None:
    entry = CacheEntry(b'{"a": 1}', fresh_until=123.0, etag='"x"', pages=3)
    v3 = entry.dump()
    v2 = b"E2" + v3[2:3] + v3[5:]  # the older layout: no status field
    old = CacheEntry.load(v2)
    assert old is not None and old.status == 200 and old.data() == {"a": 1} and old.pages == 3 and old.etag == '"x"'


def test_a_client_that_keeps_no_errors_asks_esi_each_time(esi_sim: Any, redis_client: redis_lib.Redis) -> None:
    """``remember_errors=False`` (ESIClientProvider's clients): django-esi 10 kept no 403/404."""
    esi_sim.configure_route(DETAIL, status=404, cache_seconds=20)
    with pytest.raises(EsiNotFound):  # a remembering client's entry is not served to it either
        EsiClient(limiter=RecordingLimiter()).call(DETAIL, character_id=90000001)
    forgetful = EsiClient(limiter=RecordingLimiter(), remember_errors=False)
    for _ in range(2):
        with pytest.raises(EsiNotFound) as raised:
            forgetful.call(DETAIL, character_id=90000001)
        assert "remembered" not in str(raised.value)
    assert esi_sim.stats()["by_route"][DETAIL] == {"404": 3}
    esi_sim.configure_route(DETAIL, status=404, cache_seconds=20)
    redis_client.flushdb()
    with pytest.raises(EsiNotFound):
        forgetful.call(DETAIL, character_id=90000002)
    assert _entries(redis_client) == []  # and it stores none
