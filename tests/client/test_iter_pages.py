"""Streamed crawls: client.iter_pages yields each page as it arrives, at most ESI_PAGE_CONCURRENCY
in flight, and refuses a page of another snapshot (EsiSnapshotChanged) instead of restarting."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

from esi.client import EsiClient
from esi.exceptions import EsiSnapshotChanged, InvalidParameter

from .conftest import RecordingLimiter

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
    client = EsiClient(limiter=limiter)
    with override_settings(ESI_PAGE_CONCURRENCY=3):
        stream = client.iter_pages(ORDERS, region_id=10000002)
        next(stream)  # page 1 only: nothing else was asked for yet
        assert len(limiter.acquired) == 1
        next(stream)  # the window opened: three pages in flight, no more
        assert len(limiter.acquired) <= 1 + 3
        rest = list(stream)
    assert len(rest) == 10 and limiter.max_in_flight <= 3


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
