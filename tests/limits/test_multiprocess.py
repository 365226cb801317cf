"""Four separate processes share one budget through Redis: no 429, no 420, the budget used.

Every assertion is a count or an event: what ESI (the simulator) counted and answered in its
headers, and what the limiter refused; the processes start on a signal, not at a time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = 4


def hammer(redis_client: Any, url: str, op: str, stop: str, *extra: str) -> list[dict[str, Any]]:
    """Run PROCESSES hammer processes; start them together once all are ready; their reports."""
    ready, go = f"test:hammer:{uuid.uuid4().hex}:ready", f"test:hammer:{uuid.uuid4().hex}:go"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    cmd = [sys.executable, "-m", "tests.limits.hammer", "--url", url, "--op", op, "--stop", stop]
    cmd += ["--ready", ready, "--go", go, "--deadline", str(time.time() + 120), *extra]
    procs = [
        subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(PROCESSES)
    ]
    try:
        _barrier(redis_client, procs, ready, go)
        if "--first-call" in extra:
            _barrier(redis_client, procs, f"{ready}:2", f"{go}:2")
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=150)
            assert proc.returncode == 0, err[-3000:]
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        redis_client.delete(ready, go, f"{ready}:2", f"{go}:2")
    assert not any(r["timed_out"] for r in results)
    return results


def _barrier(redis_client: Any, procs: list[subprocess.Popen[str]], ready: str, go: str) -> None:
    """Wait until every process has said it is at the barrier (RPUSH ready), then release them all."""
    started = time.monotonic()
    while redis_client.llen(ready) < PROCESSES:
        assert time.monotonic() - started < 90, "a hammer process did not reach the barrier"
        ended = [p for p in procs if p.poll() is not None]
        assert not ended, ended[0].communicate()[1][-3000:] if ended else ""
        time.sleep(0.05)
    redis_client.rpush(go, *range(PROCESSES))


@pytest.mark.slow
@pytest.mark.parametrize("tokens", [30, 400], ids=["small-bucket", "big-bucket"])
def test_four_processes_use_the_whole_group_budget_without_a_429(esi_sim: Any, redis_client: Any, tokens: int) -> None:
    # A window far longer than the test: no token comes back meanwhile, so the counts are exact.
    # Every process makes its first call before the race starts (a barrier, not a head start in
    # time), so each holds a share however the two cores are scheduled.
    esi_sim.configure_route("GetStatus", rate_limit={"max_tokens": tokens, "window": 600}, latency=0.02)
    results = hammer(redis_client, esi_sim.url, "GetStatus", "rate", "--first-call")

    stats = esi_sim.stats()["by_route"]["GetStatus"]
    assert stats.get("429", 0) == 0, stats
    successes = [rem for r in results for rem in r["ok_remaining"]]
    assert stats["200"] == len(successes)
    # Every 200 costs 2: exactly tokens / 2 fit, and all of them were used ...
    assert len(successes) == tokens // 2
    assert min(successes) == 0  # ... ESI's own count says so
    # ... every process was refused by the limiter (without I/O: there was no 429) and got its share.
    assert all(r["refused"]["rate"] == 1 for r in results)
    assert all(r["ok_remaining"] for r in results)


@pytest.mark.slow
def test_an_error_storm_stops_every_process_before_a_420_and_resumes_after_the_reset(
    esi_sim: Any, redis_client: Any
) -> None:
    limit, window, threshold = 20, 3.0, 5
    esi_sim.set_error_limit(limit=limit, window=window)
    esi_sim.configure_route("GetAlliances", error_rate=1.0, error_statuses=[500])
    results = hammer(redis_client, esi_sim.url, "GetAlliances", "resume", "--threshold", str(threshold))

    stats = esi_sim.stats()
    assert stats["by_status"].get("420", 0) == 0, stats
    remains = [rem for r in results for rem in r["error_remain"]]
    assert stats["by_route"]["GetAlliances"]["500"] == len(remains)
    # ESI's own count: the errors left never fell below the threshold, and reached it (used up to it).
    assert min(remains) == threshold, sorted(remains)
    # Every process was paused by the limiter (without I/O) and sent again once the window had reset.
    assert all(r["paused"] and r["resumed"] for r in results), [r["refused"] for r in results]
