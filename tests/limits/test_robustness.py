"""The limiter across forks, threads, lost scripts, an unreachable Redis and other processes."""

from __future__ import annotations

import dataclasses
import multiprocessing
import threading
import time
from typing import Any

import pytest
import redis as redis_lib

from esi.client.limits import RateLimitGroup, Reservation
from esi.client.limits import RedisLimiter as Limiter
from esi.client.limits import _rules as rules
from esi.exceptions import EsiErrorLimited, RedisUnavailable

GROUP = RateLimitGroup("robust", 1000, 60.0)


def in_flight(limiter: Limiter) -> int:
    return int(limiter.snapshot()["error_limit"]["in_flight"])


def _child(limiter: Limiter, queue: Any) -> None:
    try:
        r = limiter.acquire(None, "app")
        limiter.settle(r, 200, {})
        g = limiter.acquire(GROUP, "app")
        limiter.settle(g, 404, {})
        limiter.flush()
        queue.put(("ok", in_flight(limiter)))  # the parent's unit; the child's went back
    except Exception as exc:  # pragma: no cover - reported to the parent
        queue.put(("error", repr(exc)))


def test_a_forked_child_uses_its_own_connection_and_units(limiter: Limiter) -> None:
    parent = limiter.acquire(None, "app")  # the parent holds a unit
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_child, args=(limiter, queue))
    child.start()
    child.join(20)
    assert queue.get(timeout=5) == ("ok", 1)
    limiter.settle(parent, 200, {})
    row = next(g for g in limiter.snapshot()["groups"] if g["group"] == "robust")
    assert row["used"] == 5  # the child's 404 was booked in the shared bucket


def test_concurrent_threads_book_exactly(limiter: Limiter) -> None:
    def work() -> None:
        for _ in range(25):
            limiter.settle(limiter.acquire(GROUP, "app"), 200, {})
            limiter.settle(limiter.acquire(None, "app"), 200, {})

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert in_flight(limiter) <= 8  # every thread's unit went back to the pool
    limiter.close()  # gives back the spare reservations of the last batch
    row = next(g for g in limiter.snapshot()["groups"] if g["group"] == "robust")
    assert row["used"] == 8 * 25 * 2


def test_scripts_lost_by_redis_are_loaded_again(limiter: Limiter, redis_client: Any) -> None:
    limiter.settle(limiter.acquire(GROUP, "app"), 200, {})
    redis_client.script_flush()
    limiter.settle(limiter.acquire(GROUP, "app"), 404, {})  # NOSCRIPT on the deferred reply and on acquire
    redis_client.script_flush()
    limiter.settle(limiter.acquire(GROUP, "app"), 200, {})
    limiter.flush()
    row = next(g for g in limiter.snapshot()["groups"] if g["group"] == "robust")
    assert row["used"] == 2 + 5 + 2


def test_unreachable_redis_stops_calls_instead_of_sending_unguarded() -> None:
    dead = redis_lib.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    limiter = Limiter(redis_factory=lambda: dead)
    for group in (None, GROUP):
        with pytest.raises(RedisUnavailable, match="Redis") as info:
            limiter.acquire(group, "app")
        assert isinstance(info.value.__cause__, redis_lib.ConnectionError)
    limiter.settle(Reservation(GROUP, "app", 2, "gone"), 200, {})  # the answer is in hand: logged, not raised


def test_a_long_request_keeps_its_unit_and_an_idle_process_gives_it_back(limiter: Limiter, monkeypatch: Any) -> None:
    cfg = dataclasses.replace(rules.config(), lifetime=3.0)
    monkeypatch.setattr(rules, "config", lambda: cfg)
    r = limiter.acquire(None, "app")
    time.sleep(1.0)  # a long request: its unit lives as long as a request may take
    assert in_flight(limiter) == 1
    limiter.settle(r, 200, {})
    assert in_flight(limiter) == 0


def test_a_unit_of_a_process_that_died_lapses_after_a_request_lifetime(limiter: Limiter, monkeypatch: Any) -> None:
    cfg = dataclasses.replace(rules.config(), lifetime=0.3)
    monkeypatch.setattr(rules, "config", lambda: cfg)
    limiter.acquire(None, "app")  # never settled: its process "died"
    assert in_flight(limiter) == 1
    time.sleep(0.4)
    assert in_flight(limiter) == 0


def test_a_pause_set_by_another_process_reaches_this_one_within_a_heartbeat(redis_client: Any) -> None:
    here, there = Limiter(), Limiter()  # two limiters: two processes' worth of local state
    try:
        here.settle(here.acquire(None, "app"), 200, {})  # a free unit, trusted for a moment
        there.settle(there.acquire(None, "app"), 420, {"Retry-After": "5"})
        with pytest.raises(EsiErrorLimited) as info:
            here.acquire(None, "app")
        assert 4 < info.value.retry_after <= 5
        with pytest.raises(EsiErrorLimited):
            here.acquire(GROUP, "app")  # groups ask Redis every time
    finally:
        here.close()
        there.close()


def test_late_settles_do_not_bring_back_a_flushed_state(limiter: Limiter, redis_client: Any) -> None:
    held = [limiter.acquire(GROUP, "app") for _ in range(5)]
    r = limiter.acquire(None, "app")
    redis_client.flushdb()  # what every test's fixture does between tests
    for res in held:
        limiter.settle(res, 200, {})  # settles that arrive after the flush
    limiter.settle(r, 200, {})
    limiter.close()
    assert redis_client.keys("esi:limits:*") == []
