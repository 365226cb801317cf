"""How many small requests per second the esi.testing simulator serves, and whether slow ones block fast ones.

Run: ``.venv/bin/python bench/bench_simulator.py [--seconds 5] [--processes 3]``

1. Throughput: load generators in separate processes (so the client's GIL is not the limit), each
   with one keep-alive connection, hammer ``GET /status`` (rate limit lifted) for a few seconds.
   Measured twice side by side: with ``http.client`` (thin) and with a pooled ``httpx.Client``.
2. Isolation: 50 requests held 1 s by ``latency`` run while a client times 200 fast requests;
   the fast ones' median/95th percentile latency is compared with the same run without slow ones.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import statistics
import threading
import time
from typing import Any
from urllib.parse import urlparse

import httpx

from esi.testing import SimulatorControl, start_simulator


def _load_http_client(url: str, seconds: float, path: str, out: multiprocessing.Queue) -> None:
    parsed = urlparse(url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port)
    count = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        count += 1
    out.put(count)


def _load_httpx(url: str, seconds: float, path: str, out: multiprocessing.Queue) -> None:
    count = 0
    with httpx.Client(base_url=url) as client:
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            client.get(path)
            count += 1
    out.put(count)


def throughput(url: str, target, processes: int, seconds: float, path: str) -> float:
    queue: multiprocessing.Queue = multiprocessing.Queue()
    workers = [multiprocessing.Process(target=target, args=(url, seconds, path, queue)) for _ in range(processes)]
    for w in workers:
        w.start()
    total = sum(queue.get() for _ in workers)
    for w in workers:
        w.join()
    return total / seconds


def fast_latencies(url: str, n: int = 200) -> list[float]:
    out = []
    with httpx.Client(base_url=url) as client:
        for _ in range(n):
            start = time.perf_counter()
            client.get("/status")
            out.append((time.perf_counter() - start) * 1000)
    return out


def isolation(url: str, control: SimulatorControl) -> tuple[list[float], list[float], float]:
    control.configure_route("GetUniverseRaces", latency=1.0)
    baseline = fast_latencies(url)
    slow_times: list[float] = []

    def slow() -> None:
        with httpx.Client(base_url=url, timeout=10) as client:
            start = time.perf_counter()
            client.get("/universe/races")
            slow_times.append(time.perf_counter() - start)

    threads = [threading.Thread(target=slow) for _ in range(50)]
    for t in threads:
        t.start()
    time.sleep(0.05)
    loaded = fast_latencies(url)
    for t in threads:
        t.join()
    return baseline, loaded, min(slow_times)


def _pct(values: list[float], q: float) -> float:
    return sorted(values)[int(q * (len(values) - 1))]


def _measure(url: str, control: SimulatorControl, seconds: float, processes: int) -> dict[str, Any]:
    results: dict[str, Any] = {"throughput": {}, "summary": []}
    lines: list[str] = results["summary"]
    lines.append(f"simulator throughput: {processes} load processes x {seconds:.0f} s per run, keep-alive")
    for label, target in (("http.client", _load_http_client), ("httpx.Client", _load_httpx)):
        for path in ("/status", "/universe/types/34"):
            control.reset()
            control.configure_route("*", rate_limit={"max_tokens": 10**9, "window": 1})
            rate = throughput(url, target, processes, seconds, path)
            served = control.stats()["total"]
            results["throughput"][f"{label} {path}"] = round(rate)
            lines.append(f"  {label:<13} GET {path:<20} {rate:8.0f} req/s  (server counted {served})")
    control.reset()
    baseline, loaded, slowest = isolation(url, control)
    control.reset()
    ratio = statistics.median(loaded) / statistics.median(baseline)
    results["isolation"] = {
        "alone_median_ms": round(statistics.median(baseline), 3),
        "beside_slow_median_ms": round(statistics.median(loaded), 3),
        "ratio": round(ratio, 2),
        "slow_min_s": round(slowest, 2),
    }
    lines.append("isolation: 200 fast GET /status, alone vs. beside 50 requests held 1 s by latency")
    lines.append(f"  alone:  median {statistics.median(baseline):.2f} ms, p95 {_pct(baseline, 0.95):.2f} ms")
    lines.append(
        f"  beside: median {statistics.median(loaded):.2f} ms, p95 {_pct(loaded, 0.95):.2f} ms "
        f"(slow requests took >= {slowest:.2f} s; ratio of medians {ratio:.2f}, target ~1)"
    )
    return results


def run(url: str | None = None, seconds: float = 4.0, processes: int = 3) -> dict[str, Any]:
    """The bench/run.py protocol: measure the simulator at ``url`` (or a fresh one)."""
    if url is not None:
        with SimulatorControl(url) as control:
            return _measure(url, control, seconds, processes)
    with start_simulator() as sim:
        return _measure(sim.url, sim.control, seconds, processes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--processes", type=int, default=3)
    args = parser.parse_args()
    for line in run(None, args.seconds, args.processes)["summary"]:
        print(line)


if __name__ == "__main__":
    main()
