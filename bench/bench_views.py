"""Compatibility-date views: what one more view costs a process, and the first client's cold start.

Each scenario runs in a fresh process (so RSS and import time are its own), median of 5 runs:

- cold start: import the client, ``get_client()`` (the bundled default view), index every
  operation, build the pool - budget 0.3 s; next to it the floor any client pays (import httpx
  and redis, build one ``httpx.Client``), so the ratio shows what is ours;
- extra view, bundled: with the default client loaded, ``get_client("2020-01-01")`` and every
  operation of its view indexed - budget 15 MB RSS and 0.3 s;
- extra view, shared store: a date another worker fetched (read from Redis) - same budget;
- extra view, fetched: a date nobody has yet (``GET /meta/openapi.json`` from the simulator,
  written to Redis) - same budget, the HTTP exchange included.

Run: ``.venv/bin/python bench/run.py views``.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from _setup import CHILD_PRELUDE, redis_url, simulator

ROOT = Path(__file__).resolve().parent.parent
RUNS = 5
BUDGET_S, BUDGET_MB = 0.3, 15.0

_CHILD = (
    CHILD_PRELUDE
    + """
import redis
store = redis.Redis.from_url({redis!r})
scenario = {scenario!r}
if scenario == "fetched":
    store.delete("esi:spec:v1:2025-09-30")          # nobody has fetched this date yet
rss0, t0 = rss(), time.perf_counter()
if scenario == "floor":  # what any client pays: import httpx and redis, build one pooled httpx.Client
    import httpx, redis as _r
    httpx.Client()
    json.dump({{"cold_s": time.perf_counter() - t0, "cold_mb": (rss() - rss0) / 2**20}}, sys.stdout)
    raise SystemExit
from esi.client import get_client
t_import = time.perf_counter()
first = get_client()
view = first.spec                      # the default date's view (shared store, then bundled)
t_view = time.perf_counter()
ops = len(view.operations)             # every operation indexed
t_index = time.perf_counter()
first.transport.client                 # the pooled httpx client
t1, rss1 = time.perf_counter(), rss()
out = {{"cold_s": t1 - t0, "cold_mb": (rss1 - rss0) / 2**20, "operations": ops, "import_s": t_import - t0,
        "view_s": t_view - t_import, "index_s": t_index - t_view, "pool_s": t1 - t_index}}
if scenario != "cold":
    date = {{"bundled": "2020-01-01", "stored": "2026-05-19", "fetched": "2025-09-30"}}[scenario]
    extra = get_client(date)
    out["extra_operations"] = len(extra.spec.operations)
    out["extra_source"] = extra.spec.source
    out["extra_s"] = time.perf_counter() - t1
    out["extra_mb"] = (rss() - rss1) / 2**20
json.dump(out, sys.stdout)
"""
)


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in runs))


def _scenario(url: str, scenario: str) -> dict[str, Any]:
    code = _CHILD.format(root=str(ROOT), redis=redis_url(), url=url.rstrip("/") + "/", scenario=scenario)
    runs = []
    for _ in range(RUNS):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
        runs.append(json.loads(out.stdout))
    result = {
        "cold_s": _median(runs, "cold_s"),
        "cold_min_s": min(r["cold_s"] for r in runs),  # the least contended run (a shared machine)
        "cold_mb": _median(runs, "cold_mb"),
        "runs": runs,
    }
    if scenario == "cold":
        result.update({k: _median(runs, k) for k in ("import_s", "view_s", "index_s", "pool_s")})
    elif scenario != "floor":
        result.update(
            extra_s=_median(runs, "extra_s"),
            extra_min_s=min(r["extra_s"] for r in runs),
            extra_mb=_median(runs, "extra_mb"),
            extra_operations=runs[0]["extra_operations"],
            extra_source=runs[-1]["extra_source"],
        )
    return result


def _store_a_view(url: str) -> None:
    """A view another worker fetched: 2026-05-19 in the shared store (Redis)."""
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
        "import django; from django.conf import settings\n"
        f"settings.configure(INSTALLED_APPS=['esi'], ESI_REDIS_URL={redis_url()!r}, ESI_API_URL={url + '/'!r})\n"
        "django.setup()\n"
        "from esi.client._views import fetch_document, store_view\n"
        "store_view('2026-05-19', fetch_document('2026-05-19')[0])\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def run(url: str | None = None) -> dict[str, Any]:
    with simulator(url) as sim_url:
        _store_a_view(sim_url)
        result = {name: _scenario(sim_url, name) for name in ("floor", "cold", "bundled", "stored", "fetched")}
    result["summary"] = summary(result)
    return result


def summary(r: dict[str, Any]) -> list[str]:
    cold, floor = r["cold"], r["floor"]
    lines = [
        f"cold start (first client, bundled view, {r['cold']['runs'][0]['operations']} operations indexed): "
        f"{cold['cold_s']:.3f} s median, {cold['cold_min_s']:.3f} s best (budget {BUDGET_S} s: "
        f"{cold['cold_s'] / BUDGET_S:.2f} / {cold['cold_min_s'] / BUDGET_S:.2f} of it), +{cold['cold_mb']:.1f} MB RSS",
        f"  of which: imports {cold['import_s']:.3f} s, view {cold['view_s']:.3f} s, index {cold['index_s']:.3f} s, "
        f"pool {cold['pool_s']:.3f} s",
        f"  floor (import httpx + redis, one httpx.Client): {floor['cold_s']:.3f} s; cold start / floor "
        f"{cold['cold_s'] / floor['cold_s']:.2f}, above the floor {cold['cold_s'] - floor['cold_s']:.3f} s",
    ]
    for name, label in (("bundled", "bundled 2020-01-01"), ("stored", "from Redis 2026-05-19"), ("fetched", "fetched")):
        x = r[name]
        lines.append(
            f"extra view ({label}, {x['extra_operations']} operations): {x['extra_s']:.3f} s median, "
            f"{x['extra_min_s']:.3f} s best ({x['extra_s'] / BUDGET_S:.2f} of {BUDGET_S} s), "
            f"+{x['extra_mb']:.1f} MB RSS ({x['extra_mb'] / BUDGET_MB:.2f} of {BUDGET_MB:.0f} MB)"
        )
    return lines


def main() -> None:
    result = run()
    print("\n".join(result["summary"]))


if __name__ == "__main__":
    main()
