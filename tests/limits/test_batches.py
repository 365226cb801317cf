"""A busy process reserves tokens in batches: fewer round trips, the same exact bookkeeping."""

from __future__ import annotations

import time
from typing import Any

import pytest

from esi.client import _limits
from esi.client._limits import Limiter, RateLimitGroup
from esi.client._limits_batch import MAX_BATCH, TRUST
from esi.exceptions import EsiErrorLimited, EsiRateLimited

BIG = RateLimitGroup("big", 100_000, 900.0)


def used(limiter: Limiter, name: str) -> int:
    limiter.flush()
    return int(next(g for g in limiter.snapshot()["groups"] if g["group"] == name)["used"])


class CountingPipe:
    """Counts the reserve scripts the limiter runs (a view on our own pipe, not a stand-in)."""

    def __init__(self, limiter: Limiter) -> None:
        self.calls = 0
        self._call = limiter._pipe.call
        limiter._pipe.call = self  # type: ignore[method-assign]

    def __call__(self, *args: Any) -> Any:
        self.calls += 1
        return self._call(*args)


def test_a_busy_process_needs_redis_for_few_of_its_requests(limiter: Limiter) -> None:
    pipe = CountingPipe(limiter)
    for _ in range(200):
        limiter.settle(limiter.acquire(BIG, "app"), 200, {})
    assert pipe.calls < 200 / (MAX_BATCH / 2)
    limiter.close()  # gives the spares back
    assert used(limiter, "big") == 400  # exactly what was spent


def test_spares_are_booked_for_everyone_at_once(limiter: Limiter, redis_client: Any) -> None:
    small = RateLimitGroup("small", 400, 60.0)
    limiter.settle(limiter.acquire(small, "app"), 200, {})
    limiter.acquire(small, "app")  # used up while fresh: the next batch is bigger
    assert used(limiter, "small") > 4  # spares count for every process
    other = Limiter()  # another process
    try:
        while True:
            try:
                other.acquire(small, "app")
            except EsiRateLimited:
                break
        assert used(other, "small") <= 400
    finally:
        other.close()


def test_small_buckets_are_not_batched(limiter: Limiter) -> None:
    tiny = RateLimitGroup("tiny", 30, 60.0)
    for n in range(1, 16):  # 15 requests of 2 tokens fill it
        limiter.settle(limiter.acquire(tiny, "app"), 200, {})
        assert used(limiter, "tiny") == 2 * n  # no spares booked
    with pytest.raises(EsiRateLimited):
        limiter.acquire(tiny, "app")


def test_stale_spares_are_given_back_and_unused_ones_lapse(limiter: Limiter, monkeypatch: Any) -> None:
    monkeypatch.setattr(_limits, "spare_lifetime", lambda: 0.5)
    for _ in range(4):  # grows the batch: 1, 2, then 4 reserved with 3 spares left
        limiter.settle(limiter.acquire(BIG, "app"), 200, {})
    spent = 4 * 2
    assert used(limiter, "big") > spent
    # An idle process's spares lapse by themselves after their lifetime ...
    time.sleep(0.6)
    assert used(limiter, "big") == spent
    # ... and stale ones are dropped by the next reservation.
    limiter.settle(limiter.acquire(BIG, "app"), 200, {})
    time.sleep(TRUST + 0.05)
    limiter.settle(limiter.acquire(BIG, "app"), 200, {})
    limiter.close()
    assert used(limiter, "big") == spent + 4


@pytest.mark.parametrize(("status", "error"), [(429, EsiRateLimited), (420, EsiErrorLimited)])
def test_a_pause_makes_held_spares_useless_at_once(limiter: Limiter, status: int, error: type) -> None:
    for _ in range(4):  # builds a batch with spares
        limiter.settle(limiter.acquire(BIG, "app"), 200, {})
    held = limiter.acquire(BIG, "app")
    limiter.settle(held, status, {"Retry-After": "2"})
    with pytest.raises(error) as info:
        limiter.acquire(BIG, "app")
    assert 1.5 < info.value.retry_after <= 2.0
