"""What the dashboard's call counters cost the hot path, side by side in one run.

    .venv/bin/python bench/bench_counters.py [--url http://127.0.0.1:8765] [--calls 2000] [--rounds 9]

Two clients in one process, same Redis, same simulator, interleaved rounds (``bench_client``'s
``_side_by_side``, fastest round): ``counted`` is the client as shipped (every call recorded by
:mod:`esi.dashboard.counters`, the flusher thread running); ``bare`` is the same client with
its ``send`` replaced by the unrecorded ``_send`` (the code path before the counters).

- cache hit: ``call("GetStatus")`` served from Redis;
- uncached 200: ``call("GetAlliances")`` with the response cache off (limiter on), where the
  counts ride on the limiter's round trips.

Target: counted / bare <= 1.05 for both (docs/operating.md). Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from _setup import configure_django, simulator  # noqa: E402
from bench_client import _side_by_side  # noqa: E402


def run(url: str | None = None, calls: int = 2000, rounds: int = 9) -> dict[str, Any]:
    with simulator(url) as url:
        configure_django(url, ESI_CACHE_RESPONSE=True, ESI_RATE_LIMITING=True, ESI_STATS=True)
        from django.test import override_settings

        from esi.client import EsiClient
        from esi.dashboard.counters import recorder
        from esi.redis_pool import get_redis

        class Bare(EsiClient):
            send = EsiClient._send  # the call path without the counters

        get_redis().flushdb()
        counted, bare = EsiClient(), Bare()
        out: dict[str, Any] = {"load": os.getloadavg()[0], "calls": calls, "rounds": rounds}
        counted.call("GetStatus")

        def hit(client: EsiClient) -> Any:
            return lambda: client.call("GetStatus").data

        t_counted, t_bare = _side_by_side(hit(counted), hit(bare), calls, rounds)
        out["cache_hit"] = {"counted_us": t_counted * 1e6, "bare_us": t_bare * 1e6, "ratio": t_counted / t_bare}

        def uncached(client: EsiClient) -> Any:
            return lambda: client.call("GetAlliances").data

        with override_settings(ESI_CACHE_RESPONSE=False):
            t_counted, t_bare = _side_by_side(uncached(counted), uncached(bare), max(1, calls // 4), rounds)
        out["uncached"] = {"counted_us": t_counted * 1e6, "bare_us": t_bare * 1e6, "ratio": t_counted / t_bare}
        recorder.flush()
        out["load_after"] = os.getloadavg()[0]
        counted.transport.close()
        bare.transport.close()
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=None, help="a running simulator (default: start one)")
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    print(json.dumps(run(args.url, args.calls, args.rounds), indent=2))


if __name__ == "__main__":
    main()
