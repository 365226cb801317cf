"""Limiter overhead: requests/s through the limiter vs. the same calls with it off, side by side.

Runs the real client against the simulator over loopback HTTP. Rounds alternate between
``ESI_RATE_LIMITING=True`` and ``False`` so both see the same machine state; the response cache
is off so every call is one HTTP request plus, with the limiter on, its two Redis round trips
(acquire, settle). The ratio compares the best round of each mode (the median ratio is reported
too), at 0 ms and at 50 ms of simulated ESI latency (ESI's real latency is 50-500 ms a call).

    .venv/bin/python bench/bench_limits.py [--url http://127.0.0.1:8765] [--calls 300] [--rounds 11]

``run(url=None, calls=..., rounds=...) -> dict`` is what ``bench/run.py`` calls.
Redis: ``ESI_REDIS_URL`` (env) or ``redis://127.0.0.1:6379/14`` (as ``bench/run.py``); the limiter's keys are cleared.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _setup import configure_django, simulator

UNLIMITED_OP = "GetAlliances"  # no x-rate-limit group: only the error limit applies
GROUPED_OP = "GetStatus"  # group "status"; the simulator is given a budget it cannot exhaust
SLOW = 0.05  # seconds of simulated ESI latency for the second comparison


def _django(url: str) -> None:
    configure_django(url, ESI_CACHE_RESPONSE=False)


def _timed(op: str, calls: int, limiting: bool) -> float:
    """Seconds for ``calls`` sequential calls of ``op``."""
    from django.test import override_settings

    from esi.client import get_client

    client = get_client()
    with override_settings(ESI_RATE_LIMITING=limiting):  # setting_changed: the limiter re-reads it
        start = time.perf_counter()
        for _ in range(calls):
            client.call(op)
        return time.perf_counter() - start


def _compare(op: str, calls: int, rounds: int, latency: float = 0.0) -> dict[str, Any]:
    _timed(op, calls // 4 or 1, True)  # warm up: connections, spec, scripts
    _timed(op, calls // 4 or 1, False)
    on: list[float] = []
    off: list[float] = []
    for n in range(rounds):
        pair = ((True, on), (False, off)) if n % 2 == 0 else ((False, off), (True, on))
        for limiting, bucket in pair:
            bucket.append(_timed(op, calls, limiting))
    # Best round of each mode: on a shared machine, load spikes only ever make a round slower.
    t_on, t_off = min(on), min(off)
    return {
        "operation": op,
        "latency_ms": latency * 1000,
        "calls_per_round": calls,
        "rounds": rounds,
        "rps_limiter_on": round(calls / t_on, 1),
        "rps_limiter_off": round(calls / t_off, 1),
        "ratio": round(t_on / t_off, 3),
        "ratio_of_medians": round(statistics.median(on) / statistics.median(off), 3),
        "overhead_us_per_call": round((t_on - t_off) / calls * 1e6, 1),
    }


def _raw_limiter(calls: int) -> dict[str, Any]:
    """acquire + settle alone (no HTTP): the limiter's own cost per request."""
    import httpx
    from django.conf import settings

    from esi.client.limits import RateLimitGroup, RedisLimiter

    settings.ESI_RATE_LIMITING = True
    limiter = RedisLimiter()
    out: dict[str, Any] = {}
    headers = httpx.Headers({"x-esi-error-limit-remain": "100", "x-esi-error-limit-reset": "60"})
    for label, group in (("unlimited", None), ("grouped", RateLimitGroup("bench", 10**9, 900.0))):
        limiter.acquire(group, "app")
        start = time.perf_counter()
        for _ in range(calls):
            limiter.settle(limiter.acquire(group, "app"), 200, headers)
        limiter.flush()
        out[f"acquire_settle_us_{label}"] = round((time.perf_counter() - start) / calls * 1e6, 1)
    return out


def run(url: str | None = None, calls: int = 300, rounds: int = 11) -> dict[str, Any]:
    """Run the limiter scenario; starts (and stops) a simulator when ``url`` is None."""
    with simulator(url) as url:
        _django(url)
        from esi.client.limits import get_limiter
        from esi.testing import SimulatorControl

        control = SimulatorControl(url)
        control.reset()
        control.configure_route(GROUPED_OP, rate_limit={"max_tokens": 10**9, "window": 900})
        get_limiter().clear()
        result = {
            "scenario": "limits",
            "unlimited_group": _compare(UNLIMITED_OP, calls, rounds),
            "grouped": _compare(GROUPED_OP, calls, rounds),
            **_raw_limiter(calls * 5),
        }
        slow_calls = max(10, calls // 15)  # 50 ms a call: 20 calls a round
        for op in (UNLIMITED_OP, GROUPED_OP):
            control.configure_route(op, latency=SLOW)
        result["unlimited_group_50ms"] = _compare(UNLIMITED_OP, slow_calls, rounds, SLOW)
        result["grouped_50ms"] = _compare(GROUPED_OP, slow_calls, rounds, SLOW)
        get_limiter().clear()
        control.reset()
        result["summary"] = [
            f"limiter on/off, {r['latency_ms']:.0f} ms latency, {label}: {r['ratio']:.3f}x "
            f"(+{r['overhead_us_per_call']:.0f} us a call; "
            f"{r['rps_limiter_on']:.1f} vs {r['rps_limiter_off']:.1f} req/s)"
            for label, r in (
                (f"no group ({UNLIMITED_OP})", result["unlimited_group"]),
                (f"group ({GROUPED_OP})", result["grouped"]),
                (f"no group ({UNLIMITED_OP})", result["unlimited_group_50ms"]),
                (f"group ({GROUPED_OP})", result["grouped_50ms"]),
            )
        ] + [
            f"acquire+settle alone: {result['acquire_settle_us_unlimited']} us (no group), "
            f"{result['acquire_settle_us_grouped']} us (group); 2 Redis round trips either way"
        ]
        return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running simulator (default: start one)")
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=11)
    args = parser.parse_args(argv)
    result = run(args.url, args.calls, args.rounds)
    summary = result.pop("summary")
    print(json.dumps(result, indent=2))
    print("\n".join(summary))


if __name__ == "__main__":
    main()
