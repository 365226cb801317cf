"""The in-process wait limit (what a worker sets): ESI's long Retry-After ends the call with
EsiRetryLater instead of a sleep; the client's own backoff stops at the limit; direct callers
(no limit) keep the short in-place waits."""

from __future__ import annotations

from typing import Any

import pytest

from esi._backoff import waiting_at_most
from esi.client import EsiClient
from esi.exceptions import EsiLimited, EsiRetryLater, EsiServerError, EsiTimeout


def test_a_retry_after_longer_than_the_limit_ends_the_call(client: EsiClient, esi_sim: Any, sleeps: list) -> None:
    esi_sim.configure_route("GetStatus", status=503, retry_after=8)
    with waiting_at_most(5), pytest.raises(EsiRetryLater) as info:
        client.call("GetStatus")
    assert isinstance(info.value, EsiLimited)  # what the tasks re-queue with a countdown
    assert info.value.retry_after == 8.0 and info.value.status == 503
    assert "ESI_MAX_IN_PROCESS_WAIT" in str(info.value)
    assert sleeps == [] and esi_sim.stats()["by_route"]["GetStatus"] == {"503": 1}


def test_the_waits_of_one_call_add_up_to_at_most_the_limit(client: EsiClient, esi_sim: Any, sleeps: list) -> None:
    esi_sim.configure_route("GetStatus", status=503, retry_after=3)
    with waiting_at_most(5), pytest.raises(EsiRetryLater) as info:
        client.call("GetStatus")
    assert sleeps == [3.0] and info.value.retry_after == 3.0  # 3 s waited, 3 more would pass 5
    assert esi_sim.stats()["by_route"]["GetStatus"] == {"503": 2}


def test_the_own_backoff_stops_at_the_limit(client: EsiClient, esi_sim: Any, sleeps: list) -> None:
    esi_sim.configure_route("GetStatus", status=502)  # no Retry-After: waits 1, 2, 4 s
    with waiting_at_most(5), pytest.raises(EsiServerError):
        client.call("GetStatus")
    assert sleeps == [1.0, 2.0]  # the 4 s wait would pass the limit: the 5xx goes to the caller
    assert esi_sim.stats()["by_route"]["GetStatus"] == {"502": 3}


def test_timeouts_stop_at_the_limit(client: EsiClient, esi_sim: Any, sleeps: list, settings: Any) -> None:
    settings.ESI_REQUESTS_READ_TIMEOUT = 0.2
    esi_sim.configure_route("GetStatus", latency=1.0)
    with waiting_at_most(0.5), pytest.raises(EsiTimeout):
        client.call("GetStatus")
    assert sleeps == []


def test_without_a_limit_the_waits_stay_in_place(client: EsiClient, esi_sim: Any, sleeps: list) -> None:
    esi_sim.configure_route("GetStatus", status=503, retry_after=8)
    with pytest.raises(EsiServerError):
        client.call("GetStatus")
    assert sleeps == [8.0, 8.0, 8.0]


def test_a_crawl_s_page_threads_keep_the_limit(client: EsiClient, esi_sim: Any, sleeps: list) -> None:
    esi_sim.configure_route("GetMarketsRegionIdOrders", pages=3)
    client.call("GetMarketsRegionIdOrders", region_id=10000002)  # page 1 cached: the next crawl starts
    esi_sim.configure_route("GetMarketsRegionIdOrders", pages=3, status=503, retry_after=8)
    with waiting_at_most(5), pytest.raises(EsiRetryLater):
        client.call("GetMarketsRegionIdOrders", region_id=10000002, all_pages=True)
    assert sleeps == []
