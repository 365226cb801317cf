"""Scaling: fetch tasks per second through 1, 2 and 4 prefork worker processes, the Redis commands
and SQL statements per task, and bulk keep-fresh (100,000 chains: start time, burst size).

    .venv/bin/python bench/bench_scale.py [--tasks 200] [--processes 1,2,4] [--chains 100000] [--dispatch-runs 20000]

Everything runs on this machine: a Redis server of its own (a free port, so ``INFO
commandstats`` counts only the bench), the ``esi.testing`` simulator (a subprocess) and real
``celery worker -P prefork -c N`` processes. Scenarios, per process count:

* ``cached``: ``tasks`` fetches over 50 resources already in the Redis cache (no HTTP);
* ``uncached``: ``tasks`` distinct resources at 50 ms simulated ESI latency;
* ``with_token``: ``tasks`` characters' assets (one stored token each) at 50 ms: the token is
  picked from the database (the SQL per task);
* ``rate_limited``: distinct resources of a rate-limited group (``char-detail``) at 50 ms, the
  group's budget set to :data:`BUDGET` tokens per :data:`WINDOW` s (a 200 costs 2): every
  worker draws from the one budget in Redis, so the rate stays at the budget however many
  processes run, and ESI answers no 429.

"Redis commands per task" counts every command the server ran (broker, result backend, cache,
limiter, de-duplication claims) divided by the tasks; "SQL per task" counts the statements the
worker processes ran (``_scale_hooks``). ``keep_fresh``: ``start_many`` of ``chains`` resources
spread over :data:`SPREAD` s; the burst is the most first runs due in any one second, then
``stop_all``. ``dispatcher``: ``dispatch_runs`` chains all due at once, their runs sent by the
ticks of one worker process: the runs it publishes a second (100,000 chains at a 5-minute
``Expires`` need 333/s). ``run(...) -> dict`` is what ``bench/run.py`` may call.
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PLAIN_OP = "GetUniverseTypesTypeId"  # no rate-limit group
TOKEN_OP = "GetCharactersCharacterIdAssets"  # needs esi-assets.read_assets.v1: a stored token per character
TOKEN_SCOPE = "esi-assets.read_assets.v1"
GROUPED_OP = "GetCharactersCharacterIdPortrait"  # group char-detail
LATENCY = 0.05
BUDGET, WINDOW = 200, 5  # tokens per window for the rate-limited scenario: 20 answers/s
CACHED_RESOURCES = 50
SPREAD = 300.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_redis(folder: str) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    import redis

    deadline = time.monotonic() + 20
    while True:
        try:
            redis.Redis.from_url(url).ping()
            return process, url
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _env(url: str, redis_url: str, db_path: str, sql_dir: str) -> dict[str, str]:
    return {
        "DJANGO_SETTINGS_MODULE": "tests.tasks.worker_settings",
        "ESI_TEST_REDIS_URL": redis_url,
        "ESI_TEST_WORKER_DATABASE_URL": f"sqlite:///{db_path}",
        "ESI_TEST_API_URL": url.rstrip("/") + "/",
        "ESI_TEST_SSO_URL": url.rstrip("/"),
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "bench")]),
        "BENCH_SQL_DIR": sql_dir,
    }


def _start_worker(
    env: dict[str, str], processes: int, queues: str = "esi_tokens,esi,celery"
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "celery", "-A", "tests.celery_app", "worker", "-P", "prefork"),
            *("-c", str(processes), "-Q", queues, "-n", f"scale-{os.getpid()}-{processes}-{queues}@localhost"),
            *("-I", "_scale_hooks", "-l", "WARNING", "--without-heartbeat", "--without-mingle", "--without-gossip"),
        ],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    with suppress(subprocess.TimeoutExpired):
        process.wait(timeout=20)
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)


def _commands(r: Any) -> dict[str, int]:
    stats = r.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}


def _sql_total(sql_dir: str) -> int:
    """The statements counted so far; waits until the counts settle (a child writes its count
    after the task's result is stored, so just after the last result a count may still move)."""
    total = -1
    while True:
        now = sum(int(p.read_text() or 0) for p in Path(sql_dir).iterdir())
        if now == total:
            return now
        total = now
        time.sleep(0.3)


def _through_workers(op: str, params: list[dict[str, Any]]) -> float:
    from celery import group

    from esi_tasks.tasks import fetch_endpoint

    started = time.perf_counter()
    group(fetch_endpoint.s(op, **p) for p in params).apply_async().get(timeout=900)
    return time.perf_counter() - started


def _measure(r: Any, sql_dir: str, op: str, params: list[dict[str, Any]]) -> dict[str, Any]:
    before, sql_before = _commands(r), _sql_total(sql_dir)
    wall = _through_workers(op, params)
    after, sql_after = _commands(r), _sql_total(sql_dir)
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    delta.pop("info", None)
    n = len(params)
    top = sorted(((k, v) for k, v in delta.items() if v), key=lambda kv: -kv[1])[:6]
    return {
        "tasks_per_s": round(n / wall, 1),
        "redis_commands_per_task": round(sum(delta.values()) / n, 1),
        "top_commands_per_task": {k: round(v / n, 2) for k, v in top},
        "sql_per_task": round((sql_after - sql_before) / n, 2),
    }


def _tokens(control: Any, first: int, n: int) -> None:
    """``n`` characters from ``first`` with a stored token each holding :data:`TOKEN_SCOPE`."""
    import base64
    import datetime as dt

    from django.utils import timezone

    from esi.models import Scope, Token

    scope, _ = Scope.objects.get_or_create(name=TOKEN_SCOPE, defaults={"help_text": TOKEN_SCOPE})
    for character_id in range(first, first + n):
        control.add_character(character_id, name=f"Bench {character_id}", owner_hash=f"bench-{character_id}")
        issued = control.issue_tokens(character_id, [TOKEN_SCOPE], expires_in=3600)
        payload = issued["access_token"].split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        token = Token.objects.create(
            character_id=character_id,
            character_name=claims["name"],
            character_owner_hash=claims["owner"],
            access_token=issued["access_token"],
            refresh_token=issued["refresh_token"],
            access_token_expires=timezone.now() + dt.timedelta(seconds=3600),
        )
        token.scopes.add(scope)


def _scenarios(control: Any, r: Any, sql_dir: str, tasks: int, base: int) -> dict[str, Any]:
    from esi.client import get_client

    out: dict[str, Any] = {}
    warm = [{"type_id": base + i} for i in range(CACHED_RESOURCES)]
    client = get_client()
    for p in warm:
        client.call(PLAIN_OP, **p)
    out["cached"] = _measure(r, sql_dir, PLAIN_OP, [warm[i % CACHED_RESOURCES] for i in range(tasks)])
    control.configure_route(PLAIN_OP, latency=LATENCY)
    out["uncached"] = _measure(r, sql_dir, PLAIN_OP, [{"type_id": base + 1000 + i} for i in range(tasks)])
    control.configure_route(PLAIN_OP, latency=None)
    control.configure_route(TOKEN_OP, latency=LATENCY)
    _tokens(control, 91000000 + base, tasks)
    out["with_token"] = _measure(r, sql_dir, TOKEN_OP, [{"character_id": 91000000 + base + i} for i in range(tasks)])
    control.configure_route(GROUPED_OP, latency=LATENCY, rate_limit={"max_tokens": BUDGET, "window": WINDOW})
    before = control.stats()["by_route"].get(GROUPED_OP, {})
    started = time.perf_counter()
    out["rate_limited"] = _measure(r, sql_dir, GROUPED_OP, [{"character_id": base + 2000 + i} for i in range(tasks)])
    wall = time.perf_counter() - started
    after = control.stats()["by_route"].get(GROUPED_OP, {})
    answers = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    out["rate_limited"]["esi_answers"] = answers
    out["rate_limited"]["answers_per_s"] = round(answers.get("200", 0) / wall, 1)
    out["rate_limited"]["budget_answers_per_s"] = round(BUDGET / 2 / WINDOW, 1)
    return out


def _keep_fresh(r: Any, chains: int) -> dict[str, Any]:
    from esi_tasks import dispatcher, keep_fresh

    params = [{"character_id": 90000000 + i} for i in range(chains)]
    started = time.perf_counter()
    keep_fresh.start_many("GetCharactersDetail", params, spread=SPREAD)
    start_s = time.perf_counter() - started
    scores = [s for _m, s in r.zrange(dispatcher.DUE_KEY, 0, -1, withscores=True)]
    per_second = collections.Counter(math.floor(s) for s in scores)
    used = r.info("memory")["used_memory"]
    counted = keep_fresh.count()
    started = time.perf_counter()
    stopped = keep_fresh.stop_all()
    stop_s = time.perf_counter() - started
    return {
        "chains": chains,
        "start_many_s": round(start_s, 2),
        "chains_per_s": round(chains / start_s),
        "spread_s": SPREAD,
        "burst_max_runs_in_1s": max(per_second.values()),
        "mean_runs_per_s": round(chains / SPREAD, 1),
        "counted": counted,
        "redis_used_memory_mb": round(used / 2**20, 1),
        "stop_all_s": round(stop_s, 2),
        "stopped": stopped,
    }


def _queued_runs(r: Any) -> int:
    """Messages waiting in the ``esi`` queue (its priority lists too): the runs sent so far."""
    return sum(
        r.llen(k)
        for k in r.scan_iter(match="esi*", count=1000)
        if not k.startswith(b"esi_tokens") and r.type(k) == b"list"
    )


def _wait_ping(app: Any, worker: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while not app.control.ping(timeout=0.5):
        if time.monotonic() > deadline or worker.poll() is not None:
            raise RuntimeError("bench worker did not start")


def _dispatcher(app: Any, env: dict[str, str], r: Any, runs: int) -> dict[str, Any]:
    """The dispatcher's publish rate: ``runs`` chains all due at once, their runs sent by the ticks
    of one prefork process (``-Q esi_tokens -c 1``, nothing consumes the runs); runs/s from the
    first to the last run in the queue."""
    from esi_tasks import dispatcher, keep_fresh

    worker = _start_worker(env, 1, queues="esi_tokens")
    try:
        _wait_ping(app, worker)
        keep_fresh.start_many("GetCharactersDetail", [{"character_id": 95000000 + i} for i in range(runs)], spread=0)
        started = time.perf_counter()
        first = last = None
        deadline = started + 600
        while time.perf_counter() < deadline:
            queued = _queued_runs(r)
            now = time.perf_counter()
            if first is None and queued:
                first = (now, queued)
            if queued >= runs:
                last = now
                break
            time.sleep(0.05)
        if first is None or last is None:
            raise RuntimeError("the dispatcher did not send every run within 600 s")
        wall = last - started
        keep_fresh.stop_all()
        r.delete(dispatcher.TICK_KEY)
        return {"runs": runs, "all_sent_s": round(wall, 2), "runs_per_s": round(runs / wall)}
    finally:
        _stop(worker)


def run(
    tasks: int = 200, processes: tuple[int, ...] = (1, 2, 4), chains: int = 100_000, dispatch_runs: int = 20_000
) -> dict[str, Any]:
    from esi.testing import SimulatorControl, start_simulator

    folder = tempfile.mkdtemp(prefix="bench-scale-")
    sql_dir = os.path.join(folder, "sql")
    os.mkdir(sql_dir)
    redis_server, redis_url = _start_redis(folder)
    handle = start_simulator()
    try:
        env = _env(handle.url, redis_url, os.path.join(folder, "db.sqlite3"), sql_dir)
        os.environ.update(env)
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        import redis

        from tests.celery_app import app

        r = redis.Redis.from_url(redis_url)
        control = SimulatorControl(handle.url)
        out: dict[str, Any] = {"tasks": tasks, "load_before": os.getloadavg()[0], "by_processes": {}}
        for n in processes:
            r.flushdb()
            worker = _start_worker(env, n)
            try:
                _wait_ping(app, worker)
                _through_workers(PLAIN_OP, [{"type_id": 1}])  # warm (spec, pools) in every child
                out["by_processes"][n] = _scenarios(control, r, sql_dir, tasks, base=100_000 * n)
            finally:
                _stop(worker)
        r.flushdb()
        out["keep_fresh"] = _keep_fresh(r, chains) if chains else None
        r.flushdb()
        out["dispatcher"] = _dispatcher(app, env, r, dispatch_runs) if dispatch_runs else None
        out["load_after"] = os.getloadavg()[0]
        return out
    finally:
        handle.stop()
        _stop(redis_server)
        shutil.rmtree(folder, ignore_errors=True)


def _summary(out: dict[str, Any]) -> list[str]:
    lines = [f"load {out['load_before']:.1f} -> {out['load_after']:.1f} (2 cores); {out['tasks']} tasks per scenario"]
    for n, scen in out["by_processes"].items():
        parts = [
            f"{name} {s['tasks_per_s']}/s ({s['redis_commands_per_task']} Redis cmds, {s['sql_per_task']} SQL per task)"
            for name, s in scen.items()
        ]
        lines.append(f"{n} process(es): " + "; ".join(parts))
        rl = scen["rate_limited"]
        lines.append(
            f"   rate-limited: {rl['answers_per_s']} answers/s (budget {rl['budget_answers_per_s']}/s), "
            f"ESI answers {rl['esi_answers']}"
        )
    k = out["keep_fresh"]
    if k:
        lines.append(
            f"keep-fresh: start_many of {k['chains']:,} chains in {k['start_many_s']} s ({k['chains_per_s']:,}/s); "
            f"burst {k['burst_max_runs_in_1s']} runs in the busiest second (mean {k['mean_runs_per_s']}/s over "
            f"{k['spread_s']:.0f} s); Redis {k['redis_used_memory_mb']} MB; stop_all {k['stop_all_s']} s"
        )
    d = out["dispatcher"]
    if d:
        lines.append(
            f"dispatcher: {d['runs']:,} runs due at once sent in {d['all_sent_s']} s by one process: "
            f"{d['runs_per_s']:,} runs/s"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--processes", default="1,2,4")
    parser.add_argument("--chains", type=int, default=100_000, help="keep-fresh start_many size (0: skip)")
    parser.add_argument("--dispatch-runs", type=int, default=20_000, help="dispatcher publish rate runs (0: skip)")
    args = parser.parse_args()
    processes = tuple(int(x) for x in args.processes.split(",")) if args.processes else ()
    out = run(args.tasks, processes, args.chains, args.dispatch_runs)
    print("\n".join(_summary(out)))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
