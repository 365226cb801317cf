"""fetch_endpoint(..., on_page=<task>) streams a crawl through a real worker: every page goes to
the callback task and to page_fetched receivers; the result is a small summary, not the rows."""

from __future__ import annotations

import json
from typing import Any

import pytest

from esi_tasks.signals import page_fetched
from esi_tasks.tasks import fetch_endpoint
from tests.tasks.conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]

ORDERS = "GetMarketsRegionIdOrders"


def test_pages_go_to_the_callback_and_the_result_is_a_summary(threads_worker: Any, esi_sim: Any, redis_client: Any):
    esi_sim.configure_route(ORDERS, pages=6)
    signalled: list[int] = []

    def on_page(sender: Any, page: int, data: Any, **facts: Any) -> None:
        signalled.append(page)

    page_fetched.connect(on_page, weak=False)
    try:
        summary = fetch_endpoint.delay(ORDERS, region_id=10000002, on_page="tests.collect_page").get(timeout=60)
    finally:
        page_fetched.disconnect(on_page)
    handed = wait_for(
        lambda: (lambda rows: rows if len(rows) == 6 else None)(redis_client.lrange("tests:pages", 0, -1))
    )
    pages = [json.loads(raw) for raw in handed]
    assert sorted(p["page"] for p in pages) == [1, 2, 3, 4, 5, 6] and sorted(signalled) == [1, 2, 3, 4, 5, 6]
    assert {p["pages"] for p in pages} == {6} and len({p["last_modified"] for p in pages}) == 1
    assert {p["operation"] for p in pages} == {ORDERS} and pages[0]["params"] == {"region_id": 10000002}
    assert summary["pages"] == 6 and summary["rows"] == sum(p["rows"] for p in pages) > 0
    assert summary["operation"] == ORDERS and summary["etag"] and summary["last_modified"] == pages[0]["last_modified"]
    joined = fetch_endpoint.delay(ORDERS, region_id=10000002, all_pages=True).get(timeout=60)
    assert len(joined) == summary["rows"]  # the same crawl joined: another fetch, not shared with the stream
