"""The Lua-backed limiter driven directly (real Redis, synthetic ESI headers)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import httpx
import pytest
from django.test import override_settings

from esi.client.limits import RateLimitGroup, cost_of, downtime_remaining, retry_countdown
from esi.client.limits import RedisLimiter as Limiter
from esi.client.limits._rules import IN_FLIGHT_HOLD, RESERVE_COST
from esi.exceptions import EsiConfigurationError, EsiErrorLimited, EsiRateLimited

GROUP = RateLimitGroup("test-group", 10, 5.0)


def err_headers(remain: int, reset: int = 30) -> dict[str, str]:
    return {"X-ESI-Error-Limit-Remain": str(remain), "X-ESI-Error-Limit-Reset": str(reset)}


def group_of(snapshot: dict[str, Any], name: str, identity: str = "app") -> dict[str, Any]:
    return next(g for g in snapshot["groups"] if g["group"] == name and g["identity"] == identity)


def test_costs_follow_esi_documentation() -> None:
    assert [cost_of(s) for s in (200, 204, 304, 400, 404, 420, 429, 500, 503)] == [2, 2, 1, 5, 5, 5, 0, 0, 0]


def test_bucket_reserves_then_refuses_without_io_and_names_the_wait(limiter: Limiter) -> None:
    reservations = [limiter.acquire(GROUP, "app") for _ in range(GROUP.max_tokens // RESERVE_COST)]
    assert all(r.cost == RESERVE_COST for r in reservations)
    with pytest.raises(EsiRateLimited) as info:
        limiter.acquire(GROUP, "app")
    assert info.value.group == "test-group"
    assert info.value.retry_after <= IN_FLIGHT_HOLD  # full only of reservations in flight: they settle soon
    for r in reservations:
        limiter.settle(r, 200, {})
    with pytest.raises(EsiRateLimited) as info:
        limiter.acquire(GROUP, "app")
    assert 4.5 < info.value.retry_after <= 5.0  # spent: back one window after their answers
    # Another identity has a bucket of its own.
    limiter.acquire(GROUP, "90000001")


def test_settle_books_the_real_cost(limiter: Limiter) -> None:
    r200, r304, r404, r429, r500 = (limiter.acquire(GROUP, "app") for _ in range(5))
    limiter.settle(r200, 200, {})
    limiter.settle(r304, 304, {})
    limiter.settle(r404, 404, {})
    limiter.settle(r429, 429, {"Retry-After": "1"})
    limiter.settle(r500, 500, {})
    limiter.flush()
    assert group_of(limiter.snapshot(), "test-group")["used"] == 2 + 1 + 5 + 0 + 0


def test_x_ratelimit_used_wins_over_the_status_class(limiter: Limiter) -> None:
    r = limiter.acquire(GROUP, "app")
    limiter.settle(r, 200, {"X-Ratelimit-Used": "3"})
    assert group_of(limiter.snapshot(), "test-group")["used"] == 3


def test_server_remaining_corrects_the_local_view(limiter: Limiter) -> None:
    r = limiter.acquire(GROUP, "app")
    # Someone else (another app on this IP) spent 6 tokens ESI knows of and we do not.
    limiter.settle(r, 200, {"X-Ratelimit-Remaining": "2", "X-Ratelimit-Used": "2", "X-Ratelimit-Limit": "10/5s"})
    assert group_of(limiter.snapshot(), "test-group")["used"] == 8
    limiter.acquire(GROUP, "app")
    with pytest.raises(EsiRateLimited):
        limiter.acquire(GROUP, "app")


def test_server_limit_header_replaces_the_spec_budget(limiter: Limiter) -> None:
    spec = RateLimitGroup("status", 600, 900.0)
    r = limiter.acquire(spec, "app")
    limiter.settle(r, 200, {"X-Ratelimit-Limit": "4/2s", "X-Ratelimit-Remaining": "2", "X-Ratelimit-Used": "2"})
    row = group_of(limiter.snapshot(), "status")
    assert (row["max_tokens"], row["window"], row["remaining"]) == (4, 2.0, 2)
    limiter.acquire(spec, "app")
    with pytest.raises(EsiRateLimited) as info:
        limiter.acquire(spec, "app")
    assert info.value.retry_after <= 2.0


def test_tokens_come_back_after_the_window(limiter: Limiter) -> None:
    group = RateLimitGroup("short", 4, 0.5)
    limiter.acquire(group, "app")
    limiter.acquire(group, "app")
    with pytest.raises(EsiRateLimited):
        limiter.acquire(group, "app")
    time.sleep(0.55)
    limiter.acquire(group, "app")


def test_429_pauses_only_that_group_and_identity(limiter: Limiter) -> None:
    other = RateLimitGroup("other", 100, 60.0)
    r = limiter.acquire(GROUP, "app")
    limiter.settle(r, 429, {"Retry-After": "3", "X-Ratelimit-Remaining": "0"})
    with pytest.raises(EsiRateLimited) as info:
        limiter.acquire(GROUP, "app")
    assert 2.5 < info.value.retry_after <= 3.0
    limiter.acquire(GROUP, "90000001")  # same group, another character
    limiter.acquire(other, "app")  # another group
    limiter.acquire(None, "app")  # no group


def test_420_pauses_everything_for_the_advertised_time(limiter: Limiter) -> None:
    r = limiter.acquire(None, "app")
    limiter.settle(r, 420, {"Retry-After": "2"})
    for group in (None, GROUP):
        with pytest.raises(EsiErrorLimited) as info:
            limiter.acquire(group, "app")
        assert 1.5 < info.value.retry_after <= 2.0
    snap = limiter.snapshot()["error_limit"]
    assert snap["paused"] and snap["reason"] == "420" and 1.5 < snap["paused_for"] <= 2.0


def test_errors_reserved_in_flight_keep_the_threshold(limiter: Limiter, settings: Any) -> None:
    settings.ESI_ERROR_LIMIT_THRESHOLD = 5
    r = limiter.acquire(None, "app")
    limiter.settle(r, 500, err_headers(8, 20))
    # 8 left, threshold 5: at most 8 - 5 = 3 requests may be in flight at once.
    held = [limiter.acquire(None, "app") for _ in range(3)]
    with pytest.raises(EsiErrorLimited) as info:
        limiter.acquire(None, "app")
    assert info.value.retry_after <= 1.0 and "in flight" in str(info.value)
    assert limiter.snapshot()["error_limit"]["in_flight"] == 3
    # All three fail: 5 left = threshold -> everything pauses until the window resets.
    for n, res in enumerate(held):
        limiter.settle(res, 502, err_headers(7 - n, 20))
    with pytest.raises(EsiErrorLimited) as info:
        limiter.acquire(None, "app")
    assert 19 < info.value.retry_after <= 20
    with pytest.raises(EsiErrorLimited):
        limiter.acquire(GROUP, "app")
    assert limiter.snapshot()["error_limit"]["reason"] == "threshold"


def test_a_success_gives_its_unit_back(limiter: Limiter, settings: Any) -> None:
    settings.ESI_ERROR_LIMIT_THRESHOLD = 5
    r = limiter.acquire(None, "app")
    limiter.settle(r, 500, err_headers(7, 20))
    for _ in range(20):  # 7 left, threshold 5: one at a time works as long as they succeed
        res = limiter.acquire(None, "app")
        limiter.settle(res, 200, err_headers(7, 20))


def test_pause_resumes_after_the_window(limiter: Limiter, settings: Any) -> None:
    settings.ESI_ERROR_LIMIT_THRESHOLD = 3
    r = limiter.acquire(None, "app")
    limiter.settle(r, 500, err_headers(3, 1))
    with pytest.raises(EsiErrorLimited) as info:
        limiter.acquire(None, "app")
    assert info.value.retry_after <= 1.0
    time.sleep(info.value.retry_after + 0.05)
    # Only 3 errors were ever seen left: after the reset one probe at a time still goes.
    probe = limiter.acquire(None, "app")
    with pytest.raises(EsiErrorLimited):
        limiter.acquire(None, "app")
    limiter.settle(probe, 200, err_headers(100, 60))
    limiter.acquire(None, "app")
    limiter.acquire(None, "app")


def test_errors_without_headers_count_locally(limiter: Limiter, settings: Any) -> None:
    settings.ESI_ERROR_LIMIT_THRESHOLD = 2
    r = limiter.acquire(None, "app")
    limiter.settle(r, 500, err_headers(4, 20))
    for _ in range(2):  # timeouts: no answer, no headers -> counted as errors
        limiter.settle(limiter.acquire(None, "app"), 0, {})
    with pytest.raises(EsiErrorLimited):
        limiter.acquire(None, "app")


def test_httpx_headers_are_read_case_insensitively(limiter: Limiter) -> None:
    r = limiter.acquire(None, "app")
    limiter.settle(r, 404, httpx.Headers(err_headers(42, 30)))
    assert limiter.snapshot()["error_limit"]["remain"] == 42


def test_idle_process_gives_its_units_back(limiter: Limiter) -> None:
    res = limiter.acquire(None, "app")
    assert limiter.snapshot()["error_limit"]["in_flight"] == 1
    limiter.settle(res, 200, {})
    deadline = time.monotonic() + 3
    while limiter.snapshot()["error_limit"]["in_flight"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert limiter.snapshot()["error_limit"]["in_flight"] == 0


def test_release_gives_tokens_back(limiter: Limiter) -> None:
    r = limiter.acquire(GROUP, "app")
    limiter.release(r)
    assert group_of(limiter.snapshot(), "test-group")["used"] == 0


@override_settings(ESI_RATE_LIMITING=False)
def test_rate_limiting_off_touches_nothing(limiter: Limiter, redis_client: Any) -> None:
    for _ in range(50):
        r = limiter.acquire(GROUP, "app")
        limiter.settle(r, 420, {"Retry-After": "60"})
    assert redis_client.keys("esi:limits:*") == []
    assert limiter.snapshot()["enabled"] is False


def test_snapshot_lists_budgets_and_reset_times(limiter: Limiter, settings: Any) -> None:
    settings.ESI_ERROR_LIMIT_THRESHOLD = 7
    limiter.settle(limiter.acquire(None, "app"), 200, err_headers(93, 41))
    limiter.settle(limiter.acquire(GROUP, "90000001"), 200, {})
    snap = limiter.snapshot()
    assert snap["enabled"] is True
    e = snap["error_limit"]
    assert (e["remain"], e["limit"], e["threshold"], e["paused"]) == (93, 93, 7, False)
    assert 40 < e["reset_in"] <= 41
    g = group_of(snap, "test-group", "90000001")
    assert (g["max_tokens"], g["window"], g["used"], g["remaining"], g["paused_for"]) == (10, 5.0, 2, 8, 0.0)
    assert 4.5 < g["next_token_in"] <= 5.0 and 4.5 < g["full_in"] <= 5.0
    assert snap["downtime"] == {"start": None, "duration": None, "active": False, "ends_in": None}


def test_downtime_window(settings: Any) -> None:
    settings.ESI_DOWNTIME_START = "11:00"
    settings.ESI_DOWNTIME_DURATION = 900
    at = dt.datetime(2026, 1, 1, 11, 5, tzinfo=dt.UTC)
    assert downtime_remaining(at) == 600
    assert downtime_remaining(at.replace(hour=10, minute=59)) == 0
    assert downtime_remaining(at.replace(minute=15)) == 0
    settings.ESI_DOWNTIME_START = "23:55"
    assert downtime_remaining(dt.datetime(2026, 1, 2, 0, 5, tzinfo=dt.UTC)) == 300  # across midnight
    settings.ESI_DOWNTIME_START = ""
    assert downtime_remaining(at) == 0


def test_downtime_pauses_like_an_error_limit(limiter: Limiter, settings: Any) -> None:
    now = dt.datetime.now(dt.UTC)
    settings.ESI_DOWNTIME_START = now.strftime("%H:%M")
    settings.ESI_DOWNTIME_DURATION = now.second + 2
    for group in (None, GROUP):
        with pytest.raises(EsiErrorLimited) as info:
            limiter.acquire(group, "app")
        assert 0 < info.value.retry_after <= 2.0 and "downtime" in str(info.value)
    assert limiter.snapshot()["downtime"]["active"] is True
    time.sleep(info.value.retry_after + 0.05)
    limiter.acquire(None, "app")


@pytest.mark.parametrize("value", ["11", "25:00", "11:60", "noon"])
def test_bad_downtime_start_is_a_configuration_error(settings: Any, value: str) -> None:
    settings.ESI_DOWNTIME_START = value
    with pytest.raises(EsiConfigurationError, match="ESI_DOWNTIME_START"):
        downtime_remaining()


@pytest.mark.parametrize("value", [-1, "ten", 2.5])
def test_bad_threshold_is_a_configuration_error(limiter: Limiter, settings: Any, value: Any) -> None:
    settings.ESI_ERROR_LIMIT_THRESHOLD = value
    with pytest.raises(EsiConfigurationError, match="ESI_ERROR_LIMIT_THRESHOLD"):
        limiter.acquire(None, "app")


def test_bad_downtime_duration_is_a_configuration_error(settings: Any) -> None:
    settings.ESI_DOWNTIME_START = "11:00"
    settings.ESI_DOWNTIME_DURATION = "15m"
    with pytest.raises(EsiConfigurationError, match="ESI_DOWNTIME_DURATION"):
        downtime_remaining()


def test_retry_countdown_adds_a_little_jitter() -> None:
    values = [retry_countdown(EsiRateLimited("g", 10.0)) for _ in range(50)]
    assert all(10.0 <= v <= 11.0 for v in values) and len(set(values)) > 1
    assert 0.0 <= retry_countdown(EsiErrorLimited(0.0)) <= 0.1
    assert 600.0 <= retry_countdown(EsiErrorLimited(600.0)) <= 630.0
