"""Fetches per second through 2 prefork worker processes, cached and uncached, side by side
with the same fetches made in-process by the client (the ratio is the cost of going through
Celery: broker round trip, result backend, task bookkeeping).

    .venv/bin/python bench/bench_tasks.py [--url http://127.0.0.1:8765] [--fetches 400]

``run(url=None, fetches=...) -> dict`` is what ``bench/run.py`` calls. Redis: ``ESI_REDIS_URL``
(env) or ``redis://127.0.0.1:6379/14``; broker, result backend and cache share it and it is
flushed first. Scenarios:

* ``uncached``: ``fetches`` distinct resources (``GetUniverseTypesTypeId`` by type id): every
  fetch is one HTTP request to the simulator.
* ``cached``: the same ``fetches`` fetches over 50 resources already in the Redis cache: no HTTP.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OPERATION = "GetUniverseTypesTypeId"
CACHED_RESOURCES = 50


def _env(url: str, redis_url: str, db_path: str) -> dict[str, str]:
    return {
        "DJANGO_SETTINGS_MODULE": "tests.tasks.worker_settings",
        "ESI_TEST_REDIS_URL": redis_url,
        "ESI_TEST_WORKER_DATABASE_URL": f"sqlite:///{db_path}",
        "ESI_TEST_API_URL": url.rstrip("/") + "/",
        "ESI_TEST_SSO_URL": url.rstrip("/"),
        "PYTHONPATH": str(ROOT),
    }


def _start_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "tests.celery_app",
            "worker",
            "-P",
            "prefork",
            "-c",
            "2",
            "-Q",
            "esi_tokens,esi,celery",
            "-n",
            f"bench-{os.getpid()}@localhost",
            "-l",
            "WARNING",
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
            "--prefetch-multiplier",
            "4",
        ],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _through_workers(params: list[dict[str, Any]]) -> float:
    from celery import group

    from esi_tasks.tasks import fetch_endpoint

    started = time.perf_counter()
    results = group(fetch_endpoint.s(OPERATION, **p) for p in params).apply_async()
    results.get(timeout=600)
    return time.perf_counter() - started


def _in_process(params: list[dict[str, Any]]) -> float:
    from esi.client import get_client

    client = get_client()
    started = time.perf_counter()
    for p in params:
        client.call(OPERATION, **p)
    return time.perf_counter() - started


def run(url: str | None = None, fetches: int = 400) -> dict[str, Any]:
    from esi.testing import start_simulator

    redis_url = os.environ.get("ESI_REDIS_URL", "redis://127.0.0.1:6379/14")
    handle = None
    if url is None:
        handle = start_simulator()
        url = handle.url
    db = tempfile.NamedTemporaryFile(suffix=".sqlite3", delete=False)  # noqa: SIM115
    env = _env(url, redis_url, db.name)
    os.environ.update(env)
    import django

    django.setup()
    import redis

    from tests.celery_app import app

    redis.Redis.from_url(redis_url).flushdb()
    worker = _start_worker(env)
    try:
        deadline = time.monotonic() + 60
        while not app.control.ping(timeout=0.5):
            if time.monotonic() > deadline or worker.poll() is not None:
                raise RuntimeError("bench worker did not start")
        _through_workers([{"type_id": 1}])  # warm both sides (spec, pools)
        _in_process([{"type_id": 2}])
        out: dict[str, Any] = {"fetches": fetches, "workers": "prefork -c 2"}
        # uncached: distinct resources; each side gets its own ids so neither hits the other's cache
        w = _through_workers([{"type_id": 1000 + i} for i in range(fetches)])
        p = _in_process([{"type_id": 100000 + i} for i in range(fetches)])
        out["uncached"] = {"workers_per_s": round(fetches / w, 1), "in_process_per_s": round(fetches / p, 1)}
        # cached: the same few resources, fresh in Redis
        warm = [{"type_id": 5000 + i} for i in range(CACHED_RESOURCES)]
        _in_process(warm)
        params = [warm[i % CACHED_RESOURCES] for i in range(fetches)]
        w = _through_workers(params)
        p = _in_process(params)
        out["cached"] = {"workers_per_s": round(fetches / w, 1), "in_process_per_s": round(fetches / p, 1)}
        out["summary"] = [
            f"tasks uncached: {out['uncached']['workers_per_s']} fetches/s through 2 worker processes "
            f"(in-process client: {out['uncached']['in_process_per_s']}/s, ratio "
            f"{out['uncached']['workers_per_s'] / out['uncached']['in_process_per_s']:.2f})",
            f"tasks cached:   {out['cached']['workers_per_s']} fetches/s through 2 worker processes "
            f"(in-process client: {out['cached']['in_process_per_s']}/s, ratio "
            f"{out['cached']['workers_per_s'] / out['cached']['in_process_per_s']:.2f})",
        ]
        return out
    finally:
        worker.terminate()
        with suppress(subprocess.TimeoutExpired):
            worker.wait(timeout=20)
        if worker.poll() is None:
            worker.kill()
        os.unlink(db.name)
        if handle is not None:
            handle.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=None)
    parser.add_argument("--fetches", type=int, default=400)
    args = parser.parse_args()
    result = run(args.url, args.fetches)
    print("\n".join(result.pop("summary")))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
