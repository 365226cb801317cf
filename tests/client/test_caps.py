"""Issue 13 finding 5: nothing ESI sends is trusted without bounds (size, time, pages, lifetime).

The body tests stream from ``httpx.MockTransport`` generators that would never end on their
own and count what was produced: the client must stop reading at the cap.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from django.test import override_settings

from esi.client import EsiClient, RetryPolicy
from esi.exceptions import EsiResponseTooLarge, EsiTimeout

from .conftest import RecordingLimiter

CHUNK = 64 * 1024
MIB = 1024 * 1024


class Endless(httpx.SyncByteStream):
    """A response body that never ends; ``produced`` counts the chunks handed out."""

    def __init__(self, chunk: bytes | None = None, pause: float = 0.0, gzip: bool = False) -> None:
        self.produced = 0
        self.chunk = chunk if chunk is not None else b"0" * CHUNK
        self.pause = pause
        self.gzip = gzip

    def __iter__(self) -> Iterator[bytes]:
        packer = zlib.compressobj(9, zlib.DEFLATED, 31) if self.gzip else None  # 31: gzip framing
        zeros = b"\0" * (4 * MIB)
        while True:
            self.produced += 1
            if self.pause:
                time.sleep(self.pause)
            if packer is not None:
                yield packer.compress(zeros) + packer.flush(zlib.Z_SYNC_FLUSH)  # ~4 KiB for 4 MiB
            else:
                yield self.chunk


def _client(stream: httpx.SyncByteStream, headers: dict[str, str] | None = None) -> EsiClient:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "application/json", **(headers or {})}, stream=stream)

    return EsiClient(
        transport=httpx.MockTransport(handler), limiter=RecordingLimiter(), retry=RetryPolicy(max_retries=0)
    )


@override_settings(ESI_MAX_RESPONSE_BYTES=MIB, ESI_CACHE_RESPONSE=False)
def test_huge_body_stops_at_the_cap(redis_client: Any) -> None:
    stream = Endless()
    with pytest.raises(EsiResponseTooLarge, match="ESI_MAX_RESPONSE_BYTES"):
        _client(stream).call("GetStatus")
    assert stream.produced <= MIB // CHUNK + 1  # read 1 MiB and one chunk more, not 300 MB


@override_settings(ESI_MAX_RESPONSE_BYTES=MIB, ESI_CACHE_RESPONSE=False)
def test_gzip_bomb_is_counted_decompressed(redis_client: Any) -> None:
    stream = Endless(gzip=True)
    with pytest.raises(EsiResponseTooLarge, match="decompressed"):
        _client(stream, {"content-encoding": "gzip"}).call("GetStatus")
    assert stream.produced == 1  # one ~4 KiB compressed chunk is already 4 MiB: stop


@override_settings(ESI_MAX_RESPONSE_BYTES=MIB, ESI_CACHE_RESPONSE=False)
def test_declared_length_over_the_cap_is_not_read(redis_client: Any) -> None:
    stream = Endless()
    with pytest.raises(EsiResponseTooLarge, match=str(300 * MIB)):
        _client(stream, {"content-length": str(300 * MIB)}).call("GetStatus")
    assert stream.produced == 0


@override_settings(ESI_REQUEST_DEADLINE=1, ESI_CACHE_RESPONSE=False)
def test_endless_trickle_ends_at_the_deadline(redis_client: Any) -> None:
    stream = Endless(chunk=b" ", pause=0.02)  # every read answers well inside the read timeout
    with pytest.raises(EsiTimeout, match="ESI_REQUEST_DEADLINE"):
        _client(stream).call("GetStatus")
    assert 10 < stream.produced < 500  # ~50 chunks in one second; never endless


def test_small_gzip_body_still_decoded(redis_client: Any) -> None:
    body = b'{"players": 1, "server_version": "1", "start_time": "2026-01-01T00:00:00Z"}'
    packed = zlib.compressobj(6, zlib.DEFLATED, 31)
    gz = packed.compress(body) + packed.flush()
    client = _client(httpx.ByteStream(gz), {"content-encoding": "gzip", "content-length": str(len(gz))})
    assert client.call("GetStatus").data["players"] == 1


def test_x_pages_over_the_cap_fetches_only_page_one(client: EsiClient, esi_sim: Any, esi_logs: Any) -> None:
    esi_sim.configure_route("GetMarketsRegionIdOrders", pages=100000)
    with override_settings(ESI_MAX_PAGES=50), pytest.raises(EsiResponseTooLarge, match="100000 pages"):
        client.call("GetMarketsRegionIdOrders", region_id=10000002, all_pages=True)
    assert esi_sim.stats()["total"] == 1
    assert "capped by ESI_MAX_PAGES" in esi_logs.text


def test_far_expires_is_capped_and_logged_once(
    client: EsiClient, esi_sim: Any, redis_client: Any, esi_logs: Any
) -> None:
    esi_sim.configure_route("GetStatus", cache_seconds=10**10)  # Expires some 300 years ahead
    with override_settings(ESI_MAX_CACHE_SECONDS=600):
        first = client.call("GetStatus")
        client.call("GetStatus", force_refresh=True)
    assert first.expires is not None and first.expires.timestamp() - time.time() <= 601
    (key,) = redis_client.keys("esi:cache:*GetStatus*")
    assert redis_client.ttl(key) <= 600 + 24 * 3600  # fresh for 10 min, then kept a day for its ETag
    assert esi_logs.text.count("capped by ESI_MAX_CACHE_SECONDS") == 1
