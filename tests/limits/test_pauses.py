"""Pauses ESI asks for are bounded (ESI_MAX_PAUSE), logged once, and every limiter key expires.

Issue 13 finding 5: a 420 or error-limit headers with a Retry-After/Reset of 1e9 must not pause
every worker for decades; ``Retry-After: inf`` or NaN must not re-queue a task forever.
"""

from __future__ import annotations

import email.utils
import logging
import time
from typing import Any

import httpx
import pytest
from redis.crc import key_slot

from esi.client import EsiClient, RetryPolicy
from esi.client.limits import RateLimitGroup, pause_seconds
from esi.client.limits import RedisLimiter as Limiter
from esi.exceptions import EsiConfigurationError, EsiErrorLimited, EsiRateLimited

GROUP = RateLimitGroup("pauses", 100, 60.0)


@pytest.fixture
def warnings_of_limits() -> Any:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("esi.client")
    handler, level = Keep(logging.WARNING), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)  # whatever an earlier Celery worker set the root logger to
    yield records
    logger.removeHandler(handler)
    logger.setLevel(level)


def limiter_keys(redis_client: Any) -> list[bytes]:
    return sorted(redis_client.scan_iter("esi:limits:*"))


@pytest.mark.parametrize("value", ["1e9", "inf", "999999999999"])
def test_a_420_asking_for_decades_pauses_at_most_esi_max_pause(
    limiter: Limiter, redis_client: Any, warnings_of_limits: list[logging.LogRecord], value: str
) -> None:
    limiter.settle(limiter.acquire(None, "app"), 420, {"Retry-After": value})
    with pytest.raises(EsiErrorLimited) as info:
        limiter.acquire(GROUP, "app")
    assert 299 < info.value.retry_after <= 300
    for key in limiter_keys(redis_client):  # the pause is in keys that expire soon after it
        assert 0 < redis_client.pttl(key) <= (300 + 60) * 1000
    assert [r.getMessage() for r in warnings_of_limits if "capped" in r.getMessage()] == [
        f"ESI sent a pause (seconds) in Retry-After of {value}; capped by ESI_MAX_PAUSE = 300"
    ]


def test_a_capped_value_is_logged_once(limiter: Limiter, warnings_of_limits: list[logging.LogRecord]) -> None:
    for identity in ("1", "2", "3"):
        limiter.settle(limiter.acquire(GROUP, identity), 429, {"Retry-After": "123456789"})
    assert sum("123456789" in r.getMessage() for r in warnings_of_limits) == 1


def test_an_error_limit_reset_of_decades_is_capped(limiter: Limiter, redis_client: Any, settings: Any) -> None:
    settings.ESI_MAX_PAUSE = 30
    headers = {"X-ESI-Error-Limit-Remain": "2", "X-ESI-Error-Limit-Reset": "1000000000"}
    limiter.settle(limiter.acquire(None, "app"), 500, headers)
    with pytest.raises(EsiErrorLimited) as info:
        limiter.acquire(None, "app")
    assert 29 < info.value.retry_after <= 30
    assert 0 < redis_client.pttl(limiter.keys.err) <= (30 + 60) * 1000


@pytest.mark.parametrize(("value", "low", "high"), [("inf", 299, 300), ("nan", 0.5, 1.0), ("-5", 0.5, 1.0)])
def test_a_429_pause_is_capped_and_unreadable_ones_fall_back(
    limiter: Limiter, value: str, low: float, high: float
) -> None:
    limiter.settle(limiter.acquire(GROUP, "app"), 429, {"Retry-After": value})
    with pytest.raises(EsiRateLimited) as info:
        limiter.acquire(GROUP, "app")
    assert low < info.value.retry_after <= high  # NaN and negatives are no pause ESI named: 1 s


def test_retry_after_as_an_http_date() -> None:
    when = email.utils.formatdate(time.time() + 120, usegmt=True)
    wait = pause_seconds(when)
    assert wait is not None and 115 < wait <= 120
    assert pause_seconds("soon") is None and pause_seconds(None) is None


@pytest.mark.parametrize("value", [0, -1, "soon", float("inf"), True])
def test_a_bad_max_pause_is_a_configuration_error(settings: Any, value: Any) -> None:
    settings.ESI_MAX_PAUSE = value
    with pytest.raises(EsiConfigurationError, match="ESI_MAX_PAUSE"):
        pause_seconds("10")


@pytest.mark.parametrize(("status", "error"), [(429, EsiRateLimited), (420, EsiErrorLimited)])
def test_the_client_raises_capped_pauses(redis_client: Any, limiter: Limiter, status: int, error: type) -> None:
    def esi(request: httpx.Request) -> httpx.Response:  # ESI answering with a bogus pause
        return httpx.Response(status, headers={"Retry-After": "inf"}, json={"error": "slow down"})

    client = EsiClient(limiter=limiter, transport=httpx.MockTransport(esi), retry=RetryPolicy(max_retries=0))
    with pytest.raises(error) as info:
        client.call("GetStatus")
    assert info.value.retry_after == 300


def test_every_key_expires_and_shares_one_cluster_slot(limiter: Limiter, redis_client: Any) -> None:
    limiter.settle(
        limiter.acquire(None, "app"), 500, {"X-ESI-Error-Limit-Remain": "50", "X-ESI-Error-Limit-Reset": "30"}
    )
    limiter.acquire(None, "app")  # a unit in flight
    limiter.settle(limiter.acquire(GROUP, "90000001"), 429, {"Retry-After": "5"})
    limiter.acquire(RateLimitGroup("other", 10, 15.0), "app")
    limiter.snapshot()
    keys = limiter_keys(redis_client)
    # err, inflight, groups, a bucket (zset + hash) and a paused one (a hash: a 429 costs no token)
    assert len(keys) == 6, keys
    assert all(redis_client.pttl(k) > 0 for k in keys), {k: redis_client.pttl(k) for k in keys}
    assert len({key_slot(k) for k in keys}) == 1
