"""The call counters: every outcome counted per minute in Redis, no round trip of their own."""

from __future__ import annotations

import os
import threading
from typing import Any

import pytest
import redis as redis_lib
from redis.backoff import NoBackoff
from redis.retry import Retry

from esi.client import EsiClient
from esi.dashboard import counters, readings
from esi.dashboard.counters import RECENT_KEEP, Recorder, keys, recorder
from esi.exceptions import EsiNotFound


def _now_row() -> dict[str, Any]:
    return readings.last_hour(minutes=2)[-1]


def test_a_miss_a_hit_and_a_404_are_counted_in_the_current_minute(esi_client: EsiClient, esi_sim: Any) -> None:
    esi_client.call("GetStatus")  # miss: 200 from ESI
    esi_client.call("GetStatus")  # hit
    esi_sim.configure_route("GetAlliances", status=404)
    with pytest.raises(EsiNotFound):
        esi_client.call("GetAlliances")
    recorder.flush()

    row = _now_row()
    assert (row["ok"], row["hit"], row["client_error"], row["requests"], row["errors"]) == (1, 1, 1, 2, 1)
    assert row["avg_ms"] is not None and row["avg_ms"] >= 0
    assert readings.totals()["hit"] == 1
    ops = readings.per_operation()
    assert ops[("GetStatus", "ok")] == 1 and ops[("GetStatus", "hit")] == 1
    assert ops[("GetAlliances", "client_error")] == 1

    calls = readings.recent()
    assert [(c["operation"], c["outcome"], c["status"]) for c in calls] == [
        ("GetAlliances", "client_error", 404),
        ("GetStatus", "hit", 200),
        ("GetStatus", "ok", 200),
    ]
    (failure,) = readings.failures()
    assert failure["operation"] == "GetAlliances" and failure["error"] == "EsiNotFound"
    assert "404" in failure["message"]


def test_counts_ride_on_the_next_uncached_round_trip(
    esi_client: EsiClient, stats: redis_lib.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recorder, "_arm", lambda: None)  # no flusher: only round trips carry them
    monkeypatch.setattr(recorder, "flush", lambda: None)
    esi_client.call("GetAlliances")
    assert stats.hgetall(keys.total) == {}  # counted after its round trips: held in memory
    monkeypatch.setattr(recorder, "_last_flush", 0.0)  # the interval has passed
    esi_client.call("GetAlliances", force_refresh=True)
    assert readings.totals()["ok"] == 1  # the first call's count came with the second's round trips


def test_a_lone_call_reaches_redis_from_the_flusher_thread(esi_client: EsiClient, stats: redis_lib.Redis) -> None:
    esi_client.call("GetStatus")
    arrived = threading.Event()
    for _ in range(100):  # the flusher sends it about FLUSH_INTERVAL later
        if stats.hget(keys.total, "ok") == b"1":
            arrived.set()
            break
        arrived.wait(0.1)
    assert arrived.is_set()


def test_recent_calls_are_capped(esi_client: EsiClient) -> None:
    for _ in range(RECENT_KEEP + 10):
        esi_client.call("GetStatus")
    recorder.flush()
    assert len(readings.recent()) == RECENT_KEEP
    assert readings.totals()["hit"] == RECENT_KEEP + 9


def test_minute_buckets_expire(esi_client: EsiClient, stats: redis_lib.Redis) -> None:
    esi_client.call("GetStatus")
    recorder.flush()
    (key,) = stats.scan_iter(keys.base + "m:*")
    assert 3600 < stats.ttl(key) <= counters.BUCKET_TTL


def test_esi_stats_off_counts_nothing(esi_client: EsiClient, settings: Any) -> None:
    settings.ESI_STATS = False
    esi_client.call("GetStatus")
    recorder.flush()
    assert readings.totals() == dict.fromkeys(counters.OUTCOMES, 0)


def test_redis_down_drops_the_batch_quietly() -> None:
    dead = redis_lib.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
    mine = Recorder(lambda: dead)
    mine.record("GetStatus", None, "ok", 200, 1.0)
    mine.flush()  # no exception: counters are bookkeeping
    assert not mine.due()


def test_failures_keep_the_message_short_and_name_the_class() -> None:
    row = counters._failure_json((1.0, "GetStatus", None, "unanswered", None, 2.0, RuntimeError("x" * 1000)))
    assert '"error":"RuntimeError"' in row and len(row) < 500


def test_a_fork_waits_for_a_flush_and_the_child_starts_empty(esi_client: EsiClient) -> None:
    esi_client.call("GetStatus")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: nothing held, its own locks, a working client
        try:
            held = recorder._dirty or bool(recorder._counts)
            esi_client.call("GetStatus")
            os.write(write, b"dirty" if held else b"clean")
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 16) == b"clean"
