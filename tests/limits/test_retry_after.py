"""``retry_after`` of a full bucket says when enough tokens are actually back (issue 15).

A settled entry's tokens come back one window after its answer. A reservation still in flight is
re-stamped at its answer when it settles, so its tokens are not back one window after it was
reserved (the old answer, too early); and what an in-flight request does not spend (a 5xx, a 429,
a request given back) is free at once when it settles. A bucket full only because of reservations
in flight is asked again after the in-flight hold (they settle within moments), not a window later.
"""

from __future__ import annotations

import time

import pytest

from esi.client.limits import RateLimitGroup
from esi.client.limits import RedisLimiter as Limiter
from esi.client.limits._rules import IN_FLIGHT_HOLD
from esi.exceptions import EsiRateLimited

GROUP = RateLimitGroup("retry-after", 4, 3.0)  # two requests of 2 tokens fill it


def refused_for(limiter: Limiter) -> float:
    with pytest.raises(EsiRateLimited) as info:
        limiter.acquire(GROUP, "app")
    return info.value.retry_after


def test_tokens_of_a_request_in_flight_are_not_promised_back_before_its_answer(limiter: Limiter) -> None:
    flying = limiter.acquire(GROUP, "app")  # reserved first, still in flight
    time.sleep(0.5)
    limiter.settle(limiter.acquire(GROUP, "app"), 200, {})  # reserved later, answered now
    # The settled entry is back 3 s after its answer; the one in flight not before 3 s from now.
    wait = refused_for(limiter)
    assert 2.8 < wait <= 3.0, wait
    limiter.settle(flying, 200, {})
    assert 2.8 < refused_for(limiter) <= 3.0  # once answered, it is stamped at its answer


@pytest.mark.parametrize("status", [503, 429, 1])  # a 5xx or 429 costs nothing; 1: given back unsent
def test_what_a_request_in_flight_does_not_spend_is_free_at_once(limiter: Limiter, status: int) -> None:
    limiter.settle(limiter.acquire(GROUP, "other"), 200, {})  # another identity: unrelated
    first = limiter.acquire(GROUP, "app")
    second = limiter.acquire(GROUP, "app")
    refused_for(limiter)
    limiter.settle(second, status, {} if status != 429 else {"Retry-After": "0"})
    limiter.acquire(GROUP, "app")  # admitted: nothing of `second` was spent
    limiter.settle(first, 200, {})


def test_a_reservation_of_a_process_that_died_counts_from_when_it_was_reserved(
    limiter: Limiter, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses

    from esi.client.limits import _rules

    cfg = dataclasses.replace(_rules.config(), lifetime=0.2)
    monkeypatch.setattr(_rules, "config", lambda: cfg)
    limiter.acquire(GROUP, "app")  # never settled
    limiter.acquire(GROUP, "app")
    time.sleep(0.4)  # older than a request may take: its process is gone
    wait = refused_for(limiter)
    assert 1.0 < wait <= 2.65, wait  # back 3 s after it was reserved, not 3 s from now


def test_a_bucket_full_only_of_reservations_in_flight_is_asked_again_soon(limiter: Limiter) -> None:
    group = RateLimitGroup("retry-in-flight", 4, 20.0)
    first = limiter.acquire(group, "app")
    second = limiter.acquire(group, "app")  # both in flight: nothing settled yet
    with pytest.raises(EsiRateLimited) as info:
        limiter.acquire(group, "app")
    assert info.value.retry_after <= IN_FLIGHT_HOLD  # not the 20 s window: they settle within moments
    limiter.release(second)  # a cache hit gives its reservation back
    third = limiter.acquire(group, "app")  # admitted at once
    limiter.settle(first, 200, {})
    limiter.settle(third, 200, {})
    with pytest.raises(EsiRateLimited) as info:  # now settled: back one window after their answers
        limiter.acquire(group, "app")
    assert 19.0 < info.value.retry_after <= 20.0
