"""A Forge-sized crawl: 400 pages x 1,000 rows at 100 ms simulated latency, streamed and joined.

    .venv/bin/python bench/bench_crawl.py [--url http://127.0.0.1:8765] [--pages 400] [--rows 1000]

Each form runs in a fresh process (so its peak RSS is its own; the simulator is another process):

- streamed: ``for page in client.iter_pages(...)`` counting rows, each page dropped when counted;
- joined: ``client.call(..., all_pages=True)``, every row held in one list.

Figures: wall time against the ideal ``pages / ESI_PAGE_CONCURRENCY * latency`` (target <= 1.2x),
and the peak RSS each process added during the crawl (streamed: target <= 150 MB; joined beside
it). The simulator's bodies are generated once before the runs (a raw httpx crawl), so its CPU
does not count; the response cache is emptied before each run, so every page is a real request.
Beside the wall: the CPU seconds the client process and (when started here) the simulator spent
during each crawl, so a busy 2-core machine shows whose CPU it was.

``run(url=None) -> dict`` is what ``bench/run.py`` calls.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

from _setup import CHILD_PRELUDE, redis_url  # noqa: E402  (bench/ is on the path)

ORDERS = "GetMarketsRegionIdOrders"
REGION = 10000002
CONCURRENCY = 8

_CHILD = (
    CHILD_PRELUDE
    + """
import gc, resource
settings.ESI_PAGE_CONCURRENCY = {concurrency}
from esi.client import get_client
client = get_client()
client.spec.get({op!r})
client.call("GetStatus", force_refresh=True)   # pool, Redis and limiter warm
gc.collect()
base = rss()
def cpu():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime
c0 = cpu()
t0 = time.perf_counter()
if {mode!r} == "streamed":
    pages = rows = 0
    for page in client.iter_pages({op!r}, region_id={region}):
        pages += 1
        rows += len(page.data)
else:
    r = client.call({op!r}, region_id={region}, all_pages=True)
    pages, rows = r.pages, len(r.data)
wall = time.perf_counter() - t0
used = cpu() - c0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
added = (peak - base) / 2**20
json.dump({{"wall_s": wall, "pages": pages, "rows": rows, "added_peak_mb": added, "client_cpu_s": used}}, sys.stdout)
"""
)


def _clear_cache() -> None:
    import redis

    r = redis.Redis.from_url(redis_url())
    for key in r.scan_iter(f"esi:cache:*{ORDERS}*", count=1000):
        r.delete(key)


def _warm(url: str, pages: int) -> float:
    """Have the simulator generate (and keep) every page's body; -> the raw concurrent crawl's wall."""
    import httpx

    base = url.rstrip("/") + f"/markets/{REGION}/orders"
    with httpx.Client(timeout=60) as http, ThreadPoolExecutor(CONCURRENCY) as pool:
        started = time.perf_counter()
        list(pool.map(lambda n: http.get(base, params={"page": n, "order_type": "all"}).content, range(1, pages + 1)))
        return time.perf_counter() - started


def _child(url: str, mode: str) -> dict[str, Any]:
    code = _CHILD.format(
        root=str(ROOT),
        redis=redis_url(),
        url=url.rstrip("/") + "/",
        concurrency=CONCURRENCY,
        op=ORDERS,
        region=REGION,
        mode=mode,
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def _cpu_of(pid: int | None) -> float:
    """CPU seconds (user + system) process ``pid`` has used so far (0 when unknown)."""
    if pid is None:
        return 0.0
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def _simulator(url: str | None) -> Iterator[tuple[str, int | None]]:
    """(url, pid): the simulator at ``url``, or one started here (its pid known) when ``url`` is None."""
    if url is not None:
        yield url, None
        return
    from esi.testing import start_simulator

    with start_simulator() as handle:
        yield handle.url, handle.process.pid


def run(url: str | None = None, pages: int = 400, rows: int = 1000, latency: float = 0.1) -> dict[str, Any]:
    """Both forms on one simulator (started here when ``url`` is None)."""
    from esi.testing import SimulatorControl

    with _simulator(url) as (url, sim_pid):
        control = SimulatorControl(url)
        control.configure_route(
            ORDERS, pages=pages, items=rows, latency=latency, rate_limit={"max_tokens": 10**9, "window": 900}
        )
        raw_warm = _warm(url, pages)  # generates the bodies
        raw = _warm(url, pages)  # the raw concurrent crawl, bodies ready
        ideal = pages / CONCURRENCY * latency
        result: dict[str, Any] = {
            "scenario": "crawl",
            "pages": pages,
            "rows_per_page": rows,
            "latency_s": latency,
            "concurrency": CONCURRENCY,
            "ideal_s": ideal,
            "raw_httpx_crawl_s": raw,
            "simulator_first_crawl_s": raw_warm,
        }
        for mode in ("streamed", "joined"):
            _clear_cache()
            sim_before = _cpu_of(sim_pid)
            figures = _child(url, mode)
            figures["simulator_cpu_s"] = _cpu_of(sim_pid) - sim_before if sim_pid else None
            figures["ratio_vs_ideal"] = figures["wall_s"] / ideal
            figures["ratio_vs_raw"] = figures["wall_s"] / raw
            result[mode] = figures
        _clear_cache()
        control.configure_route(ORDERS, pages=None, items=None, latency=None, rate_limit=None)
        result["load"] = os.getloadavg()
        result["summary"] = summary(result)
        return result


def _cpu(f: dict[str, Any]) -> str:
    sim = "" if f.get("simulator_cpu_s") is None else f", simulator {f['simulator_cpu_s']:.2f} s"
    return f"CPU: client {f['client_cpu_s']:.2f} s{sim}"


def summary(r: dict[str, Any]) -> list[str]:
    s, j = r["streamed"], r["joined"]
    return [
        f"{r['pages']} pages x {r['rows_per_page']} rows @{r['latency_s'] * 1000:.0f}ms, {r['concurrency']} in flight; "
        f"ideal {r['ideal_s']:.2f} s, raw httpx crawl {r['raw_httpx_crawl_s']:.2f} s "
        f"(load {r['load'][0]:.1f})",
        f"  streamed  {s['wall_s']:6.2f} s -> {s['ratio_vs_ideal']:.2f}x ideal (target <= 1.2x), "
        f"{s['ratio_vs_raw']:.2f}x raw; peak +{s['added_peak_mb']:.0f} MB RSS (target <= 150 MB); {s['rows']} rows; "
        f"{_cpu(s)}",
        f"  joined    {j['wall_s']:6.2f} s -> {j['ratio_vs_ideal']:.2f}x ideal, {j['ratio_vs_raw']:.2f}x raw; "
        f"peak +{j['added_peak_mb']:.0f} MB RSS; {j['rows']} rows; {_cpu(j)}",
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running simulator (default: start one)")
    parser.add_argument("--pages", type=int, default=400)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.1)
    args = parser.parse_args(argv)
    result = run(args.url, args.pages, args.rows, args.latency)
    print("\n".join(result["summary"]))


if __name__ == "__main__":
    main()
