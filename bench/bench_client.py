"""Client benchmarks: our client against raw baselines and against django-esi 10.0.0, in one run.

    .venv/bin/python bench/bench_client.py [--url http://127.0.0.1:8765] [--no-django-esi10]

Every scenario runs its two contenders in interleaved rounds (a b, b a, ...: both see the same
machine state) and reports the per-call medians, the median of the per-round ratios with its
interquartile range ``[q1-q3]``, and this process's CPU time per call (what the client itself
spends, less sensitive to the machine's load than the wall clock); the load is printed too:

- cache hit: ``client.call("GetStatus")`` served from Redis vs. a bare redis-py ``GET`` +
  ``json.loads`` of the same body (target <= 1.5x);
- uncached 200: ``client.call("GetAlliances")`` with the response cache off (limiter on) vs. a
  raw pooled ``httpx.Client.get`` of the same URL (target <= 1.2x); also a cache *miss* (cache
  on, new key each call: one GET + one SET more);
- the limiter's cost where it runs for real (cache on, a miss: its scripts ride in the cache's two
  round trips): the same misses through the shared RedisLimiter vs. a NullLimiter, at 0 ms and at
  50 ms of simulated ESI latency, for an operation without a group and one of a rate-limited group;
- 50 pages at 50 ms simulated latency, all_pages=True vs. the floor 50 ms x ceil(50 / concurrency)
  (target <= 1.3x) and vs. a raw httpx crawl with the same concurrency;
- cold start in a fresh process: import the client, index the full spec, build the pool
  (targets <= 0.3 s and <= 50 MB added RSS);
- the same scenarios on django-esi 10.0.0, installed from PyPI into ``bench/.venv-django-esi10``
  (created on first use), on the same simulator, printed as django-esi/ours ratios.

``run(url=None) -> dict`` is what ``bench/run.py`` calls.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

from _setup import CHILD_PRELUDE, configure_django, redis_url, simulator  # noqa: E402  (bench/ is on the path)

VENV10 = BENCH / ".venv-django-esi10"
PAGES, LATENCY = 50, 0.05
ORDERS = "GetMarketsRegionIdOrders"


def _django(url: str) -> None:
    configure_django(url, ESI_CACHE_RESPONSE=True, ESI_RATE_LIMITING=True)


def _per_call(fn: Callable[[], Any], calls: int) -> tuple[float, float]:
    """Wall and CPU (this process only) seconds per call of ``calls`` calls of ``fn``."""
    cpu, start = time.process_time(), time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls, (time.process_time() - cpu) / calls


def _quartiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) < 4:
        return min(values), statistics.median(values), max(values)
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


@dataclass(frozen=True)
class Compared:
    """``a`` against ``b`` over interleaved rounds: per-call medians, and the median of the
    per-round ratios with its interquartile range (each round's ratio pairs two batches run back
    to back, so the machine's load drifts out of it)."""

    a_us: float
    b_us: float
    ratio: float
    ratio_q1: float
    ratio_q3: float
    rounds: int
    a_cpu_us: float  # this process's CPU time per call (what the client itself spends)
    b_cpu_us: float

    @property
    def spread(self) -> str:
        return f"[{self.ratio_q1:.2f}-{self.ratio_q3:.2f}]"

    def as_dict(self, a: str, b: str) -> dict[str, Any]:
        return {
            f"{a}_us": self.a_us,
            f"{b}_us": self.b_us,
            "ratio": self.ratio,
            "ratio_iqr": [self.ratio_q1, self.ratio_q3],
            "rounds": self.rounds,
            f"{a}_cpu_us": self.a_cpu_us,
            f"{b}_cpu_us": self.b_cpu_us,
        }


def compare(a: Callable[[], Any], b: Callable[[], Any], calls: int, rounds: int) -> Compared:
    """``a`` against ``b``: ``rounds`` pairs of batches of ``calls`` calls, the order alternating
    (a b, b a, ...), after a warm-up of each."""
    _per_call(a, max(1, calls // 5))
    _per_call(b, max(1, calls // 5))
    ta: list[float] = []
    tb: list[float] = []
    ca: list[float] = []
    cb: list[float] = []
    ratios: list[float] = []
    for n in range(rounds):
        if n % 2 == 0:
            (wa, pa), (wb, pb) = _per_call(a, calls), _per_call(b, calls)
        else:
            (wb, pb), (wa, pa) = _per_call(b, calls), _per_call(a, calls)
        ta.append(wa)
        tb.append(wb)
        ca.append(pa)
        cb.append(pb)
        ratios.append(wa / wb)
    q1, q2, q3 = _quartiles(ratios)
    med = statistics.median
    return Compared(med(ta) * 1e6, med(tb) * 1e6, q2, q1, q3, rounds, med(ca) * 1e6, med(cb) * 1e6)


def _side_by_side(a: Callable[[], Any], b: Callable[[], Any], calls: int, rounds: int) -> tuple[float, float]:
    """Per-call median seconds of ``a`` and ``b`` (:func:`compare`; kept for the other bench modules)."""
    c = compare(a, b, calls, rounds)
    return c.a_us / 1e6, c.b_us / 1e6


# --- our scenarios ---------------------------------------------------------------------------


def cache_hit(calls: int, rounds: int) -> dict[str, Any]:
    from esi.client import get_client
    from esi.redis_pool import get_redis

    client = get_client()
    first = client.call("GetStatus", force_refresh=True)
    body = json.dumps(first.data).encode()
    r = get_redis()
    r.set("bench:raw-status", body)

    def ours() -> Any:
        return client.call("GetStatus").data

    def raw() -> Any:
        return json.loads(r.get("bench:raw-status"))  # type: ignore[arg-type]

    assert client.call("GetStatus").from_cache
    c = compare(ours, raw, calls, rounds)
    r.delete("bench:raw-status")
    return c.as_dict("ours", "raw_redis_get_json")


def uncached(calls: int, rounds: int) -> dict[str, Any]:
    """Uncached calls: with the cache off against a raw pooled GET, and cache misses (a new key
    each call, limiter on) against the cached-miss floor, without and with a rate-limit group."""
    import httpx
    from django.conf import settings
    from django.test import override_settings

    from esi.client import get_client
    from esi.redis_pool import get_redis

    client = get_client()
    url = settings.ESI_API_URL + "alliances"
    raw_client = httpx.Client(headers=client.transport.base_headers())

    def raw() -> Any:
        return raw_client.get(url)

    def ours() -> Any:
        return client.call("GetAlliances").data

    with override_settings(ESI_CACHE_RESPONSE=False):
        no_cache = compare(ours, raw, calls, rounds)
    counter = [0]
    r = get_redis()

    def miss_of(op: str, param: str, base: int) -> Callable[[], Any]:
        def miss() -> Any:
            counter[0] += 1
            return client.call(op, **{param: base + counter[0]}).data

        return miss

    def floor_of(path: Callable[[int], str]) -> Callable[[], Any]:
        """The cached-miss floor: one Redis GET, the pooled httpx GET of ``path(n)``, one SET."""

        def floor() -> Any:
            counter[0] += 1
            key = f"bench:floor:{counter[0]}"
            r.get(key)
            response = raw_client.get(settings.ESI_API_URL + path(counter[0]))
            r.set(key, response.content, px=60_000)
            return response

        return floor

    miss = compare(
        miss_of("GetUniverseTypesTypeId", "type_id", 0), floor_of(lambda n: f"universe/types/{n}"), calls, rounds
    )
    # a rate-limited group ("char-detail"): the same two round trips
    grouped = compare(
        miss_of("GetCharactersCharacterIdPortrait", "character_id", 90_000_000),
        floor_of(lambda n: f"characters/{90_000_000 + n}/portrait"),
        calls,
        rounds,
    )
    for key in r.scan_iter("bench:floor:*"):
        r.delete(key)
    raw_client.close()
    return {
        "no_cache": no_cache.as_dict("ours", "raw_httpx_get"),
        "miss": miss.as_dict("ours", "floor"),
        "group_miss": grouped.as_dict("ours", "floor"),
    }


def limiter_cost(control: Any, calls: int, rounds: int) -> dict[str, Any]:
    """Cached misses with the shared limiter vs. the same client with a NullLimiter, side by side."""
    from esi.client import EsiClient, get_client
    from esi.client.limits import NullLimiter

    shared = get_client()
    unlimited = EsiClient(transport=shared.transport, limiter=NullLimiter())
    counter = [50_000_000]
    ops = {
        "no_group": ("GetUniverseTypesTypeId", "type_id"),
        "group": ("GetCharactersCharacterIdPortrait", "character_id"),
    }

    def miss(client: Any, op: str, param: str) -> Callable[[], Any]:
        def call() -> Any:
            counter[0] += 1
            return client.call(op, **{param: counter[0]}).data

        return call

    out: dict[str, Any] = {}
    for latency, n, r in ((0.0, calls, rounds), (LATENCY, 10, max(5, rounds // 2))):
        for label, (op, param) in ops.items():
            control.configure_route(op, latency=latency or None)
            c = compare(miss(shared, op, param), miss(unlimited, op, param), n, r)
            out[f"{label}_{latency * 1000:.0f}ms"] = {
                **c.as_dict("limiter", "null_limiter"),
                "cost_us": c.a_us - c.b_us,
            }
            control.configure_route(op, latency=None)
    return out


def pages(control: Any, rounds: int) -> dict[str, Any]:
    import httpx
    from django.conf import settings

    from esi.app_settings import esi_settings
    from esi.client import get_client

    control.configure_route(ORDERS, pages=PAGES, latency=LATENCY)
    client = get_client()
    concurrency = esi_settings.ESI_PAGE_CONCURRENCY
    region = [10_000_000]

    def ours() -> Any:
        region[0] += 1  # a region never crawled before: nothing cached
        r = client.call(ORDERS, region_id=region[0], all_pages=True)
        assert r.pages == PAGES
        return r.data

    raw_client = httpx.Client(headers=client.transport.base_headers())
    pool = ThreadPoolExecutor(concurrency)

    def raw() -> Any:
        region[0] += 1
        url = f"{settings.ESI_API_URL}markets/{region[0]}/orders"
        first = raw_client.get(url, params={"page": 1, "order_type": "all"})
        n = int(first.headers["x-pages"])
        rest = pool.map(lambda p: raw_client.get(url, params={"page": p, "order_type": "all"}).json(), range(2, n + 1))
        return [*first.json(), *[row for page in rest for row in page]]

    c = compare(ours, raw, 1, rounds)
    pool.shutdown()
    raw_client.close()
    floor = LATENCY * math.ceil(PAGES / concurrency)
    return {
        "pages": PAGES,
        "latency_s": LATENCY,
        "concurrency": concurrency,
        **c.as_dict("ours", "raw_httpx_crawl"),
        "floor_us": floor * 1e6,
        "ratio_vs_floor": c.a_us / 1e6 / floor,
    }


_COLD = (
    CHILD_PRELUDE
    + """
rss0, t0 = rss(), time.perf_counter()
from esi.client import get_client
client = get_client()
ops = client.spec.operations            # the full spec, every operation indexed
client.transport.client                 # the pooled httpx client
client.spec.get("GetStatus")
t1 = time.perf_counter()
json.dump({{"seconds": t1 - t0, "rss_mb": (rss() - rss0) / 2**20, "operations": len(ops)}}, sys.stdout)
"""
)


def cold_start(url: str, runs: int = 5) -> dict[str, Any]:
    results = []
    for _ in range(runs):
        code = _COLD.format(root=str(ROOT), redis=redis_url(), url=url.rstrip("/") + "/")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        results.append(json.loads(out.stdout))
    return {
        "seconds": statistics.median(r["seconds"] for r in results),
        "rss_mb": statistics.median(r["rss_mb"] for r in results),
        "operations": results[0]["operations"],
    }


# --- django-esi 10.0.0 -----------------------------------------------------------------------


def _clean_env() -> dict[str, str]:
    """The environment for the django-esi 10 virtualenv: without our PYTHONPATH (its ``esi`` is not ours)."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DJANGO_SETTINGS_MODULE")}


def ensure_venv10() -> Path:
    """bench/.venv-django-esi10 with django-esi 10.0.0 from PyPI (created once)."""
    python = VENV10 / "bin" / "python"
    check = [str(python), "-c", "import esi, django_redis; assert esi.__version__ == '10.0.0'"]
    if python.exists() and subprocess.run(check, capture_output=True, env=_clean_env(), cwd=BENCH).returncode == 0:
        return python
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV10)], check=True, env=_clean_env())
    pip = [str(python), "-m", "pip", "install", "-q", "django-esi==10.0.0", "django-redis"]
    subprocess.run(pip, check=True, env=_clean_env())
    return python


def run_django_esi10(url: str, control: Any, calls: int, rounds: int) -> dict[str, Any]:
    python = ensure_venv10()
    doc = json.loads((ROOT / "esi" / "data" / "openapi-2026-08-04.json").read_text())
    doc["servers"] = [{"url": url.rstrip("/")}]
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(doc, fh)
        spec = fh.name
    worker = str(BENCH / "_django_esi10_worker.py")
    base = [str(python), worker, "--url", url, "--redis", redis_url(), "--spec", spec]

    def run(scenario: str, *extra: str) -> dict[str, Any]:
        cmd = [*base[:2], scenario, *base[2:], *extra]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=1200, env=_clean_env(), cwd=BENCH)
        if out.returncode != 0:
            return {"error": out.stderr[-2000:]}
        result: dict[str, Any] = json.loads(out.stdout)
        return result

    try:
        cold = [run("coldstart") for _ in range(3)]
        ok = [c for c in cold if "error" not in c]
        result: dict[str, Any] = {
            "coldstart": {
                "seconds": statistics.median(c["seconds"] for c in ok),
                "rss_mb": statistics.median(c["rss_mb"] for c in ok),
            }
            if ok
            else cold[0]
        }
        result["hit"] = run("hit", "--calls", str(calls), "--rounds", str(rounds))
        result["uncached"] = run("uncached", "--calls", str(max(20, calls // 20)), "--rounds", str(rounds))
        control.configure_route(ORDERS, pages=PAGES, latency=LATENCY)
        result["pages"] = run("pages", "--rounds", "3", "--region", "30000000")
        return result
    finally:
        os.unlink(spec)


# --- the run -----------------------------------------------------------------------------------


def run(
    url: str | None = None, calls: int = 50, rounds: int = 21, page_rounds: int = 7, django_esi10: bool = True
) -> dict[str, Any]:
    """All client scenarios; starts (and stops) a simulator when ``url`` is None."""
    with simulator(url) as url:
        _django(url)
        from esi.client.limits import get_limiter
        from esi.redis_pool import get_redis
        from esi.testing import SimulatorControl

        control = SimulatorControl(url)
        control.reset()
        control.configure_route("GetCharactersCharacterIdPortrait", rate_limit={"max_tokens": 10**9, "window": 900})
        get_limiter().clear()
        for key in get_redis().scan_iter("esi:cache:*"):
            get_redis().delete(key)
        result: dict[str, Any] = {"scenario": "client", "load_before": os.getloadavg()}
        result["cache_hit"] = cache_hit(calls * 4, rounds * 2)  # short rounds: both see the same noise
        result["uncached"] = uncached(calls, rounds)
        result["limiter_cost"] = limiter_cost(control, calls, rounds)
        result["pages"] = pages(control, page_rounds)
        result["cold_start"] = cold_start(url)
        if django_esi10:
            try:
                result["django_esi10"] = run_django_esi10(url, control, 200, 5)
            except Exception as exc:  # keep our figures even if the comparison cannot run
                result["django_esi10"] = {"error": f"{type(exc).__name__}: {exc}"}
        control.reset()
        get_limiter().clear()
        result["load_after"] = os.getloadavg()
        result["summary"] = summary(result)
        return result


def summary(r: dict[str, Any]) -> list[str]:
    hit, unc, pg, cold = r["cache_hit"], r["uncached"], r["pages"], r["cold_start"]

    def line(label: str, c: dict[str, Any], a: str, b: str, note: str) -> str:
        q1, q3 = c["ratio_iqr"]
        return (
            f"{label:15s}{c[a + '_us']:9.1f} us vs {b.replace('_', ' '):18s}{c[b + '_us']:9.1f} us"
            f"  -> {c['ratio']:.2f}x [{q1:.2f}-{q3:.2f}]  cpu {c[a + '_cpu_us']:.0f}/{c[b + '_cpu_us']:.0f} us  {note}"
        )

    load = r.get("load_before", (float("nan"),) * 3), r.get("load_after", (float("nan"),) * 3)
    lines = [
        f"load {load[0][0]:.2f} -> {load[1][0]:.2f}; ratios are medians of per-round ratios [interquartile range]",
        line("cache hit", hit, "ours", "raw_redis_get_json", "(target <= 1.5x)"),
        line("uncached 200", unc["no_cache"], "ours", "raw_httpx_get", "(cache off: no Redis GET/SET)"),
        line("cache miss", unc["miss"], "ours", "floor", "(target <= 1.2x; floor = GET+httpx+SET; 2 round trips)"),
        line("group miss", unc["group_miss"], "ours", "floor", "(target <= 1.2x; rate-limited group char-detail)"),
        *(
            line(
                f"limiter {k.replace('_', ' ')}", v, "limiter", "null_limiter", f"(+{v['cost_us']:.0f} us; cache miss)"
            )
            for k, v in r["limiter_cost"].items()
        ),
        f"{pg['pages']} pages @{pg['latency_s'] * 1000:.0f}ms {pg['ours_us'] / 1e6:8.3f} s vs floor "
        f"{pg['floor_us'] / 1e6:.3f} s -> {pg['ratio_vs_floor']:.2f}x (target <= 1.3x); raw httpx crawl "
        f"{pg['raw_httpx_crawl_us'] / 1e6:.3f} s -> {pg['ratio']:.2f}x "
        f"[{pg['ratio_iqr'][0]:.2f}-{pg['ratio_iqr'][1]:.2f}]",
        f"cold start     {cold['seconds']:8.3f} s, +{cold['rss_mb']:.1f} MB RSS, {cold['operations']} operations"
        " (targets <= 0.3 s, <= 50 MB)",
    ]
    d10 = r.get("django_esi10")
    if d10 is None:
        return lines
    if "error" in d10:
        return [*lines, f"django-esi 10.0.0: could not run: {d10['error'][:500]}"]

    def ratio(theirs: dict[str, Any], key: str, ours: float, scale: float = 1.0) -> str:
        if "error" in theirs or key not in theirs:
            return f"failed: {theirs.get('error', '?')[-300:]}"
        return f"{theirs[key] * scale:.4g} -> django-esi/ours {theirs[key] * scale / ours:.1f}x"

    lines += [
        "django-esi 10.0.0 on the same simulator:",
        f"  cache hit (use_etag=False) us: {ratio(d10['hit'], 'per_call', hit['ours_us'], 1e6)}"
        f"; default second call {d10['hit'].get('default_second_call', '?')}",
        f"  uncached 200 us:              {ratio(d10['uncached'], 'per_call', unc['no_cache']['ours_us'], 1e6)}",
        f"  {PAGES} pages s:                  {ratio(d10['pages'], 'per_call', pg['ours_us'] / 1e6)}",
        f"  cold start s:                 {ratio(d10['coldstart'], 'seconds', cold['seconds'])}"
        f", +{d10['coldstart'].get('rss_mb', float('nan')):.0f} MB RSS",
    ]
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running simulator (default: start one)")
    parser.add_argument("--calls", type=int, default=50, help="calls per round of an uncached scenario")
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--no-django-esi10", action="store_true")
    args = parser.parse_args(argv)
    result = run(args.url, args.calls, args.rounds, django_esi10=not args.no_django_esi10)
    print("\n".join(result["summary"]))


if __name__ == "__main__":
    main()
