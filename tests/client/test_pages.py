"""All pages: X-Pages concurrently and in order, restart on a changed snapshot, cursor walking."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

from esi.client import EsiClient, RetryPolicy
from esi.client._transport import HttpPool
from esi.exceptions import EsiTransportError

from .conftest import CountingTransport, RecordingLimiter

ORDERS = "GetMarketsRegionIdOrders"


def _pages_requested(esi_sim: Any) -> list[int]:
    pages = []
    for entry in esi_sim.request_log(ORDERS):
        query = dict(p.split("=", 1) for p in entry["query"].split("&") if p)
        pages.append(int(query.get("page", 1)))
    return pages


def test_all_pages_joined_in_page_order(client: EsiClient, esi_sim: Any) -> None:
    esi_sim.configure_route(ORDERS, pages=5)
    r = client.call(ORDERS, region_id=10000002, all_pages=True)
    assert r.pages == 5 and r.status == 200
    assert sorted(_pages_requested(esi_sim)) == [1, 2, 3, 4, 5]
    expected: list[Any] = []
    for n in range(1, 6):
        one = client.call(ORDERS, region_id=10000002, page=n)
        assert one.from_cache  # every page was cached by the crawl
        expected.extend(one.data)
    assert r.data == expected
    again = client.call(ORDERS, region_id=10000002, all_pages=True)
    assert again.from_cache and again.data == r.data
    assert esi_sim.stats()["total"] == 5
    with override_settings(ESI_CACHE_RESPONSE=False):
        truth = [row for n in range(1, 6) for row in client.call(ORDERS, region_id=10000002, page=n).data]
    assert r.data == truth


def test_results_is_all_pages(client: EsiClient, esi_sim: Any) -> None:
    esi_sim.configure_route(ORDERS, pages=3)
    assert (
        client.Market.GetMarketsRegionIdOrders(region_id=10000002).results()
        == client.call(ORDERS, region_id=10000002, all_pages=True).data
    )


@override_settings(ESI_PAGE_CONCURRENCY=4)
def test_pages_are_fetched_concurrently(esi_sim: Any, redis_client: Any) -> None:
    esi_sim.configure_route(ORDERS, pages=9, latency=0.2)
    counting = CountingTransport()
    client = EsiClient(limiter=RecordingLimiter(), transport=HttpPool(transport=counting))
    r = client.call(ORDERS, region_id=10000002, all_pages=True)
    assert r.pages == 9
    assert counting.max_in_flight == 4  # ESI_PAGE_CONCURRENCY requests in flight at once, never more


def test_changed_snapshot_restarts_the_crawl(esi_sim: Any, redis_client: Any) -> None:
    esi_sim.configure_route(ORDERS, pages=4)

    def grow(n: int) -> None:
        if n == 3:  # while pages 2..4 are fetched, ESI publishes a new snapshot with 6 pages
            esi_sim.configure_route(ORDERS, pages=6, body_version=2)

    client = EsiClient(limiter=RecordingLimiter(on_acquire=grow), retry=RetryPolicy(sleep=lambda s: None))
    with override_settings(ESI_PAGE_CONCURRENCY=1):
        r = client.call(ORDERS, region_id=10000002, all_pages=True)
    assert r.pages == 6
    fresh = EsiClient(limiter=RecordingLimiter())
    expected: list[Any] = []
    with override_settings(ESI_CACHE_RESPONSE=False):  # the simulator's current snapshot, not our cache
        for n in range(1, 7):
            expected.extend(fresh.call(ORDERS, region_id=10000002, page=n).data)
    assert r.data == expected


def test_a_snapshot_that_never_settles_gives_up(esi_sim: Any, redis_client: Any) -> None:
    esi_sim.configure_route(ORDERS, pages=3)
    version = [1]

    def churn(n: int) -> None:
        version[0] += 1  # every request sees another snapshot: X-Pages flips between 3 and 4
        esi_sim.configure_route(ORDERS, body_version=version[0], pages=3 + version[0] % 2, cache_seconds=0)

    client = EsiClient(limiter=RecordingLimiter(on_acquire=churn))
    with override_settings(ESI_PAGE_CONCURRENCY=1), pytest.raises(EsiTransportError, match="kept changing"):
        client.call(ORDERS, region_id=10000002, all_pages=True)


def test_cursor_walk_backwards(client: EsiClient, esi_sim: Any) -> None:
    esi_sim.configure_route("GetFreelanceJobsListing", pages=3)  # 30 records, 10 per step
    r = client.call("GetFreelanceJobsListing", all_pages=True)
    records_key = next(k for k in r.data if k != "cursor")
    assert len(r.data[records_key]) == 30
    assert r.data["cursor"]["after"]
    steps = esi_sim.request_log("GetFreelanceJobsListing")
    assert len(steps) == 4  # three pages and the empty one that ends the walk
    first = client.call("GetFreelanceJobsListing")
    assert first.data[records_key] == r.data[records_key][:10]


def test_cursor_poll_forwards_from_after(client: EsiClient, esi_sim: Any) -> None:
    esi_sim.configure_route("GetFreelanceJobsListing", pages=2)
    history = client.call("GetFreelanceJobsListing", all_pages=True)
    records_key = next(k for k in history.data if k != "cursor")
    after = history.data["cursor"]["after"]
    esi_sim.configure_route("GetFreelanceJobsListing", body_version=1)  # 5 new records appear
    new = client.call("GetFreelanceJobsListing", after=after, all_pages=True)
    assert len(new.data[records_key]) == 5
    assert new.data["cursor"]["after"] != after
