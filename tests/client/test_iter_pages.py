"""Streamed crawls: client.iter_pages yields each page as it arrives, at most ESI_PAGE_CONCURRENCY
requests in flight, and refuses a page of another snapshot (EsiSnapshotChanged) instead of restarting."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping
from typing import Any

import httpx
import pytest
from django.test import override_settings

from esi.client import EsiClient
from esi.client._transport import HttpPool
from esi.client.limits import Reservation
from esi.exceptions import EsiSnapshotChanged, InvalidParameter

from .conftest import CountingTransport, RecordingLimiter

ORDERS = "GetMarketsRegionIdOrders"


def test_every_page_once_with_its_number(client: EsiClient, esi_sim: Any) -> None:
    esi_sim.configure_route(ORDERS, pages=7)
    pages = list(client.iter_pages(ORDERS, region_id=10000002))
    assert pages[0].page == 1 and sorted(p.page for p in pages) == list(range(1, 8))
    assert {p.pages for p in pages} == {7} and len({p.last_modified for p in pages}) == 1
    joined = client.call(ORDERS, region_id=10000002, all_pages=True)
    rows = [row for p in sorted(pages, key=lambda p: p.page or 0) for row in p.data]
    assert rows == joined.data and joined.page is None
    assert esi_sim.stats()["total"] == 7  # the joined crawl came from the cache the stream filled


def test_a_slow_consumer_holds_at_most_the_window(esi_sim: Any, redis_client: Any) -> None:
    esi_sim.configure_route(ORDERS, pages=12)
    limiter = RecordingLimiter()
    counting = CountingTransport()
    client = EsiClient(limiter=limiter, transport=HttpPool(transport=counting))
    with override_settings(ESI_PAGE_CONCURRENCY=3):
        stream = client.iter_pages(ORDERS, region_id=10000002)
        next(stream)  # page 1 only: nothing else was asked for yet
        assert len(limiter.acquired) == 1
        next(stream)  # the window opened: three requests in flight, three more pages decoded/stored
        assert len(limiter.acquired) <= 1 + 2 * 3
        rest = list(stream)
    assert len(rest) == 10 and counting.max_in_flight <= 3


def test_a_changed_snapshot_raises(esi_sim: Any, redis_client: Any) -> None:
    esi_sim.configure_route(ORDERS, pages=4)

    def grow(n: int) -> None:
        if n == 3:  # while pages 2..4 are fetched, ESI publishes a new snapshot with 6 pages
            esi_sim.configure_route(ORDERS, pages=6, body_version=2)

    client = EsiClient(limiter=RecordingLimiter(on_acquire=grow))
    seen: list[int] = []
    with override_settings(ESI_PAGE_CONCURRENCY=1), pytest.raises(EsiSnapshotChanged, match="snapshot"):
        for page in client.iter_pages(ORDERS, region_id=10000002):
            seen.append(page.page or 0)
    assert seen[:2] == [1, 2] and 3 not in seen


def test_the_call_is_checked_before_the_stream_starts(client: EsiClient, esi_sim: Any) -> None:
    with pytest.raises(InvalidParameter):
        client.iter_pages(ORDERS, region_id="not-a-number")  # raised here, not at the first next()
    assert esi_sim.stats()["total"] == 0


def test_other_operations_stream_their_steps(client: EsiClient, esi_sim: Any) -> None:
    assert [r.status for r in client.iter_pages("GetStatus")] == [200]
    steps = list(client.iter_pages("GetFreelanceJobsListing"))
    assert len(steps) >= 1 and all(isinstance(s.data, dict) for s in steps)


def test_the_next_request_goes_out_while_a_page_is_stored(esi_sim: Any, redis_client: Any) -> None:
    """The in-flight limit covers the HTTP exchange only: a page's settle and cache write do not
    hold its slot, so with ESI_PAGE_CONCURRENCY=1 page 3 is requested while page 2 is stored."""
    esi_sim.configure_route(ORDERS, pages=4)
    third_request = threading.Event()

    class Transport(CountingTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            with self.lock:
                self.started = getattr(self, "started", 0) + 1
                if self.started == 3:
                    third_request.set()
            return super().handle_request(request)

    overlapped: list[bool] = []
    settles = itertools.count(1)  # counted as they start (``settled`` grows only once one is done)

    class SlowSettle(RecordingLimiter):
        def settle(self, reservation: Reservation, status: int, headers: Mapping[str, str]) -> None:
            if next(settles) == 2:  # the first page after page 1: wait for the next request to start
                overlapped.append(third_request.wait(10))
            super().settle(reservation, status, headers)

    transport = Transport()
    client = EsiClient(limiter=SlowSettle(), transport=HttpPool(transport=transport))
    with override_settings(ESI_PAGE_CONCURRENCY=1):
        pages = list(client.iter_pages(ORDERS, region_id=10000002))
    assert len(pages) == 4 and overlapped == [True]
    assert transport.max_in_flight == 1  # still one request at a time


def test_a_stream_left_early_ends_its_threads(esi_sim: Any, redis_client: Any) -> None:
    """Closing a stream mid-crawl ends its page threads, also those waiting for their turn."""
    esi_sim.configure_route(ORDERS, pages=12, latency=0.05)
    client = EsiClient(limiter=RecordingLimiter())
    with override_settings(ESI_PAGE_CONCURRENCY=2):
        stream = client.iter_pages(ORDERS, region_id=10000002)
        assert [next(stream).page, next(stream).page][0] == 1
        stream.close()  # returns once the pool's threads ended (no thread waits for a slot forever)
    assert not [t for t in threading.enumerate() if t.name.startswith("esi-page")]
    assert esi_sim.stats()["total"] < 12
