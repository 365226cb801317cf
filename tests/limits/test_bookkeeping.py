"""Bookkeeping of a busy process: one script per acquire and per settle, exact across processes.

(Until issue 14 a busy process reserved in batches; the limiter now books every reservation on its
own, so these tests pin what batches had to keep: exact counts, shared at once, pauses seen at once.)
"""

from __future__ import annotations

from typing import Any

import pytest

from esi.client.limits import RateLimitGroup
from esi.client.limits import RedisLimiter as Limiter
from esi.exceptions import EsiErrorLimited, EsiRateLimited

from .conftest import commandstats

BIG = RateLimitGroup("big", 100_000, 900.0)


def used(limiter: Limiter, name: str) -> int:
    return int(next(g for g in limiter.snapshot()["groups"] if g["group"] == name)["used"])


def test_a_busy_process_runs_one_script_per_acquire_and_per_settle(private_redis: Any) -> None:
    limiter = Limiter(lambda: private_redis)
    limiter.settle(limiter.acquire(BIG, "app"), 200, {})  # loads the scripts
    before = commandstats(private_redis)
    for _ in range(200):
        limiter.settle(limiter.acquire(BIG, "app"), 200, {})
    after = commandstats(private_redis)
    assert after["evalsha"] - before["evalsha"] == 400  # (commands scripts run are counted too: not compared)
    assert {k: after.get(k, 0) - before.get(k, 0) for k in ("eval", "script|load", "get", "set")} == dict.fromkeys(
        ("eval", "script|load", "get", "set"), 0
    )
    assert used(limiter, "big") == 402  # exactly what was spent


def test_reservations_are_booked_for_everyone_at_once(limiter: Limiter, redis_client: Any) -> None:
    small = RateLimitGroup("small", 400, 60.0)
    limiter.settle(limiter.acquire(small, "app"), 200, {})
    limiter.acquire(small, "app")  # in flight: counts for every process already
    assert used(limiter, "small") == 4
    other = Limiter()  # another process
    admitted = 0
    while True:
        try:
            other.acquire(small, "app")
        except EsiRateLimited:
            break
        admitted += 1
    assert admitted == (400 - 4) // 2
    assert used(other, "small") == 400


def test_small_buckets_are_booked_exactly(limiter: Limiter) -> None:
    tiny = RateLimitGroup("tiny", 30, 60.0)
    for n in range(1, 16):  # 15 requests of 2 tokens fill it
        limiter.settle(limiter.acquire(tiny, "app"), 200, {})
        assert used(limiter, "tiny") == 2 * n
    with pytest.raises(EsiRateLimited):
        limiter.acquire(tiny, "app")


@pytest.mark.parametrize(("status", "error"), [(429, EsiRateLimited), (420, EsiErrorLimited)])
def test_a_pause_holds_for_the_next_request_at_once(limiter: Limiter, status: int, error: type) -> None:
    for _ in range(4):
        limiter.settle(limiter.acquire(BIG, "app"), 200, {})
    held = limiter.acquire(BIG, "app")
    limiter.settle(held, status, {"Retry-After": "2"})
    with pytest.raises(error) as info:
        limiter.acquire(BIG, "app")
    assert 1.5 < info.value.retry_after <= 2.0
