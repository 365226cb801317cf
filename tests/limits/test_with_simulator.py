"""The real client and the real limiter against the simulator: every answer is booked, pauses hold."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest

from esi.client import EsiClient
from esi.client.limits import RedisLimiter as Limiter
from esi.exceptions import EsiErrorLimited, EsiNotFound, EsiRateLimited, EsiServerError


def status_group(limiter: Limiter) -> dict[str, Any]:
    limiter.close()  # gives spare reservations of a batch back, so "used" is what was spent
    return next(g for g in limiter.snapshot()["groups"] if g["group"] == "status")


def test_every_answer_is_booked_including_304_and_errors(client: EsiClient, esi_sim: Any) -> None:
    esi_sim.configure_route("GetStatus", rate_limit={"max_tokens": 100, "window": 60})
    client.call("GetStatus")
    row = status_group(client.limits)
    assert (row["max_tokens"], row["window"], row["used"]) == (100, 60.0, 2)  # learned from the headers
    r = client.call("GetStatus", force_refresh=True)
    assert r.not_modified
    assert status_group(client.limits)["used"] == 3  # a 304 costs 1
    esi_sim.configure_route("GetStatus", status=404)
    with pytest.raises(EsiNotFound):
        client.call("GetStatus", force_refresh=True)
    assert status_group(client.limits)["used"] == 8  # a 4xx costs 5
    esi_sim.configure_route("GetStatus", status=503)
    with pytest.raises(EsiServerError):
        client.call("GetStatus", force_refresh=True)
    assert status_group(client.limits)["used"] == 8  # a 5xx costs nothing
    # Errors on routes without a group spend the error limit, which the limiter records.
    esi_sim.configure_route("GetAlliances", status=500)
    with pytest.raises(EsiServerError):
        client.call("GetAlliances")
    client.limits.flush()
    assert client.limits.snapshot()["error_limit"]["remain"] == 99


def test_an_injected_429_pauses_only_that_group_for_the_advertised_time(client: EsiClient, esi_sim: Any) -> None:
    esi_sim.configure_route("GetStatus", status=429, retry_after=2)
    with pytest.raises(EsiRateLimited):
        client.call("GetStatus")
    paused_at = time.monotonic()
    esi_sim.configure_route("GetStatus", status=None, retry_after=None)
    sent = esi_sim.stats()["total"]
    with pytest.raises(EsiRateLimited) as info:
        client.call("GetStatus")
    assert info.value.group == "status" and 1.0 < info.value.retry_after <= 2.0
    assert esi_sim.stats()["total"] == sent  # refused without I/O
    client.call("GetMetaStatus")  # group "meta": not paused
    client.call("GetAlliances")  # no group: not paused
    time.sleep(max(0.0, paused_at + 1.5 - time.monotonic()))
    with pytest.raises(EsiRateLimited):
        client.call("GetStatus")
    time.sleep(max(0.0, paused_at + 2.05 - time.monotonic()))
    assert client.call("GetStatus").status == 200


def test_an_injected_420_pauses_everything_for_the_advertised_time(client: EsiClient, esi_sim: Any) -> None:
    esi_sim.configure_route("GetAlliances", status=420, retry_after=2)
    with pytest.raises(EsiErrorLimited):
        client.call("GetAlliances")
    paused_at = time.monotonic()
    esi_sim.configure_route("GetAlliances", status=None, retry_after=None)
    sent = esi_sim.stats()["total"]
    for op in ("GetAlliances", "GetStatus", "GetMetaStatus", "GetMarketsPrices"):
        with pytest.raises(EsiErrorLimited) as info:
            client.call(op)
        assert 1.0 < info.value.retry_after <= 2.0
    assert esi_sim.stats()["total"] == sent  # nothing was sent
    time.sleep(max(0.0, paused_at + 1.5 - time.monotonic()))
    with pytest.raises(EsiErrorLimited):
        client.call("GetStatus")
    time.sleep(max(0.0, paused_at + 2.05 - time.monotonic()))
    assert client.call("GetAlliances").status == 200
    assert client.call("GetStatus").status == 200


def test_daily_downtime_pauses_without_io(client: EsiClient, esi_sim: Any, settings: Any) -> None:
    now = dt.datetime.now(dt.UTC)
    settings.ESI_DOWNTIME_START = now.strftime("%H:%M")
    settings.ESI_DOWNTIME_DURATION = now.second + 2
    with pytest.raises(EsiErrorLimited) as info:
        client.call("GetStatus")
    assert esi_sim.stats()["total"] == 0
    time.sleep(info.value.retry_after + 0.05)
    assert client.call("GetStatus").status == 200


def test_rate_limiting_off_sends_even_when_paused(client: EsiClient, esi_sim: Any, settings: Any) -> None:
    esi_sim.configure_route("GetAlliances", status=420, retry_after=30)
    with pytest.raises(EsiErrorLimited):
        client.call("GetAlliances")
    esi_sim.configure_route("GetAlliances", status=None, retry_after=None)
    with pytest.raises(EsiErrorLimited):
        client.call("GetStatus")
    settings.ESI_RATE_LIMITING = False
    assert client.call("GetStatus").status == 200
