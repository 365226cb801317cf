"""The chaos run: real prefork workers, a faulty simulator, killed workers, a killed Redis.

``python -m tests.chaos.run --tasks 5000`` (the full form; ``scripts/chaos`` runs it) or the
bounded form the test suite runs (``tests/chaos/test_chaos.py``). Everything is started here:
a Redis of its own on a free port (AOF, ``appendfsync always``) holding broker, results, cache,
limits and locks; a simulator with 20 % 5xx, a hanging route and 0-40 ms jitter; prefork
workers. While the tasks are enqueued, a pool child and a worker's main process are SIGKILLed
(a fresh worker takes the place of the dead one) and Redis is SIGKILLed and restarted. Then ten
rounds of 50 concurrent refreshes of one expired token, with SSO slow and a Redis restart in the
middle. Prints the figures as JSON; exit code 1 when a guarantee did not hold.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import datetime as dt
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tests.chaos.aof import vanished
from tests.chaos.redis_server import PrivateRedis

ROOT = Path(__file__).resolve().parents[2]
QUEUES = "esi_tokens,esi,celery"
WRITE_SCOPE = "esi-calendar.respond_calendar_events.v1"
WRITER = 90000001


def _log(message: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Worker:
    """``celery -A tests.chaos.celery_app worker -P prefork``: killable, with its pool children."""

    def __init__(self, name: str, env: dict[str, str], concurrency: int, logdir: Path, level: str = "WARNING") -> None:
        self.name = name
        self.killed = False
        self.log = open(logdir / f"{name}.log", "wb")  # noqa: SIM115  (closed in stop())
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "tests.chaos.celery_app", "worker",
                "-P", "prefork", "-c", str(concurrency), "-Q", QUEUES, "-n", f"{name}@chaos",
                "--without-heartbeat", "--without-mingle", "--without-gossip", "-l", level,
            ],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def children(self) -> list[int]:
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.process.pid and fields[0] != "Z":
                found.append(int(stat.parent.name))
        return found

    def kill_child(self) -> int | None:
        children = self.children()
        if not children:
            return None
        pid = random.choice(children)
        os.kill(pid, signal.SIGKILL)
        return pid

    def kill_main(self) -> None:
        """The host dies: the main process and its pool children, all at once."""
        children = self.children()
        os.kill(self.process.pid, signal.SIGKILL)
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill_main()
        self.log.close()


class Tally:
    """Outcomes as callers see them: data, a documented ``esi`` error, a raw error, or nothing."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ok = 0
        self.failed_clearly: collections.Counter[str] = collections.Counter()
        self.raw: collections.Counter[str] = collections.Counter()
        self.lost = 0
        self.lost_states: collections.Counter[str] = collections.Counter()
        self.unseen = 0  # finished (stored), but the caller's .get() was not told in time
        self.lost_ids: list[str] = []

    def outcome(self, exc: BaseException | None) -> None:
        from celery.exceptions import TimeoutError as CeleryTimeout

        from esi.exceptions import EsiError

        with self.lock:
            if exc is None:
                self.ok += 1
            elif isinstance(exc, CeleryTimeout):
                self.lost += 1
            elif isinstance(exc, EsiError):
                self.failed_clearly[type(exc).__name__] += 1
            else:
                self.raw[f"{type(exc).__module__}.{type(exc).__name__}: {str(exc)[:120]}"] += 1


def _environment(redis: PrivateRedis, sim_url: str, db_path: Path, visibility: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="tests.chaos.settings",
        ESI_TEST_REDIS_URL=redis.url(0),
        ESI_CHAOS_DATABASE_URL=f"sqlite:///{db_path}",
        ESI_TEST_API_URL=sim_url + "/",
        ESI_TEST_SSO_URL=sim_url,
        ESI_CHAOS_VISIBILITY_TIMEOUT=str(visibility),
        PYTHONPATH=str(ROOT),
    )
    return env


def _store_token(control: Any, scopes: list[str], expires_in: int = 1199) -> Any:
    from django.utils import timezone

    from esi.models import Scope, Token
    from esi.sso import TokenResponse, verify_access_token

    issued = control.issue_tokens(WRITER, scopes, expires_in=expires_in)
    claims = verify_access_token(TokenResponse.from_authlib(issued).access_token)
    token = Token.objects.create(
        character_id=WRITER,
        character_name=claims.character_name,
        character_owner_hash=claims.owner_hash,
        access_token=issued["access_token"],
        refresh_token=issued["refresh_token"],
        access_token_expires=timezone.now() + dt.timedelta(seconds=expires_in),
    )
    token.scopes.set([Scope.objects.get_or_create(name=name)[0] for name in scopes])
    return token


def _calls(tasks: int) -> list[tuple[str, dict[str, Any]]]:
    """The mix: type lookups (repeats share or hit the cache), GetStatus, a hanging route, writes."""
    calls: list[tuple[str, dict[str, Any]]] = []
    rng = random.Random(12)
    for n in range(tasks):
        roll = rng.random()
        if roll < 0.05:
            calls.append(
                (
                    "PutCharactersCharacterIdCalendarEventId",
                    {"character_id": WRITER, "event_id": 1_000_000 + n, "body": {"response": "accepted"}},
                )
            )
        elif roll < 0.07:
            calls.append(("GetUniverseStationsStationId", {"station_id": 60_000_000 + n}))  # hangs
        elif roll < 0.15:
            calls.append(("GetStatus", {}))
        else:
            calls.append(("GetUniverseTypesTypeId", {"type_id": 1 + rng.randrange(max(1, tasks // 2))}))
    return calls


def _load(args: argparse.Namespace, calls: list[tuple[str, dict[str, Any]]], tally: Tally, chaos: Any) -> None:
    """Enqueue every call over ``args.duration`` s from 8 threads; wait for each result, until
    ``args.drain`` s after the last was enqueued (a message kombu lost comes back from the ledger)."""
    from esi_tasks.tasks import fetch_endpoint

    deadline_holder: list[float] = []
    pending: list[Any] = []
    pending_lock = threading.Lock()
    gap = args.duration / max(1, len(calls))
    start = time.monotonic()

    def enqueue(index: int) -> None:
        op, params = calls[index]
        delay = start + index * gap - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        chaos(index)
        try:
            result = fetch_endpoint.delay(op, **params)
        except BaseException as exc:
            tally.outcome(exc)
            return
        with pending_lock:
            pending.append(result)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(enqueue, range(len(calls))))
    _log(f"enqueued {len(calls)} calls in {time.monotonic() - start:.0f} s; waiting for the results")
    deadline_holder.append(time.monotonic() + args.drain)

    def wait(result: Any) -> None:
        from celery import states
        from celery.exceptions import TimeoutError as CeleryTimeout

        try:
            while True:
                remaining = deadline_holder[0] - time.monotonic()
                try:
                    result.get(timeout=max(1.0, min(5.0, remaining)), interval=0.2)
                    break
                except CeleryTimeout:
                    if remaining <= 5.0:
                        raise
        except CeleryTimeout as exc:
            meta = result.backend.get_task_meta(result.id)  # a plain GET, not the caller's subscription
            if meta["status"] in states.READY_STATES:
                with tally.lock:
                    tally.unseen += 1
                tally.outcome(None if meta["status"] == states.SUCCESS else _rebuilt(meta))
            else:
                with tally.lock:
                    tally.lost_states[meta["status"]] += 1
                    tally.lost_ids.append(result.id)
                tally.outcome(exc)
        except BaseException as exc:
            tally.outcome(exc)
        else:
            tally.outcome(None)

    with ThreadPoolExecutor(max_workers=32) as pool:
        list(pool.map(wait, pending))


def _rebuilt(meta: dict[str, Any]) -> BaseException:
    result = meta.get("result")
    return result if isinstance(result, BaseException) else RuntimeError(repr(result))


def _refresh_rounds(args: argparse.Namespace, control: Any, redis: PrivateRedis) -> dict[str, Any]:
    """Rounds of 50 threads using one expired token, SSO slow, Redis restarted mid-round."""
    from django.db import connection
    from django.utils import timezone

    from esi.exceptions import EsiError
    from esi.models import Token

    token = _store_token(control, ["esi-assets.read_assets.v1"])
    control.configure_route("SsoToken", latency=args.sso_latency)
    outcomes: collections.Counter[str] = collections.Counter()
    rounds_without_loss = 0
    restart_round = args.rounds // 2
    for n in range(args.rounds):
        Token.objects.filter(pk=token.pk).update(access_token_expires=timezone.now() - dt.timedelta(minutes=1))
        barrier = threading.Barrier(args.refreshers)

        def use(_: int) -> str:
            mine = Token.objects.get(pk=token.pk)
            barrier.wait()
            try:
                mine.valid_access_token()
                return "ok"
            except EsiError as exc:
                return f"clear:{type(exc).__name__}"
            except BaseException as exc:
                return f"raw:{type(exc).__module__}.{type(exc).__name__}"
            finally:
                connection.close()

        killer = None
        if n == restart_round:
            killer = threading.Timer(args.sso_latency / 2, redis.restart, kwargs={"down_for": 2.0})
            killer.start()
        with ThreadPoolExecutor(max_workers=args.refreshers) as pool:
            outcomes.update(pool.map(use, range(args.refreshers)))
        if killer is not None:
            killer.join()
        alive = Token.objects.filter(pk=token.pk).exclude(refresh_token=None).exists()
        rounds_without_loss += int(alive)
        _log(f"refresh round {n + 1}: token {'kept' if alive else 'LOST'}")
    control.configure_route("SsoToken", latency=None)
    sso = control.stats()["sso"]
    return {
        "rounds": args.rounds,
        "refreshers": args.refreshers,
        "rounds_without_loss": rounds_without_loss,
        "outcomes": dict(outcomes),
        "sso_refreshes": sso.get("token_refresh_token", 0),
        "sso_invalid_grant": sso.get("token_error_invalid_grant", 0),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="esi-chaos-"))
    redis = PrivateRedis(directory=str(workdir / "redis")).start()
    from esi.testing._server import start_simulator

    sim = start_simulator()
    workers: list[Worker] = []
    try:
        env = _environment(redis, sim.url, workdir / "db.sqlite3", args.visibility_timeout)
        os.environ.update(env)
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        from django.conf import settings

        from esi.testing import SimulatorControl

        control = SimulatorControl(sim.url, client_id=settings.ESI_SSO_CLIENT_ID)
        control.reset()
        control.set_error_limit(limit=100_000, window=60)  # the limiter still runs; 420 would be counted
        control.configure_route("*", error_rate=args.error_rate, latency_jitter=0.04)
        control.configure_route("GetUniverseStationsStationId", hang=True)
        _store_token(control, [WRITE_SCOPE])
        import tests.chaos.celery_app  # noqa: F401  (the app the workers run, configured for this Redis)

        workers = [Worker(f"w{n}", env, args.concurrency, workdir, args.log_level) for n in range(args.workers)]
        _wait_ready(workers)
        calls = _calls(args.tasks)
        tally = Tally()
        events: list[str] = []
        event_times: list[float] = []
        marks = {
            int(len(calls) * 0.25): "kill_child",
            int(len(calls) * 0.4): "kill_main",
            int(len(calls) * 0.6): "redis",
        }

        def chaos(index: int) -> None:
            action = marks.pop(index, None)
            if action == "kill_child":
                events.append(f"SIGKILL pool child {workers[0].kill_child()} of {workers[0].name}")
            elif action == "kill_main":
                victim = workers[-1]
                victim.kill_main()
                victim.killed = True
                events.append(f"SIGKILL main process {victim.process.pid} of {victim.name} and its children")
                workers.append(Worker(f"w{len(workers)}", env, args.concurrency, workdir, args.log_level))
            elif action == "redis":
                redis.kill()
                events.append("SIGKILL Redis")
                threading.Timer(2.0, redis.start).start()
            if action:
                event_times.append(time.time())
                _log(events[-1])

        _load(args, calls, tally, chaos)
        from esi.redis_pool import get_redis
        from esi_tasks.transport import ledger_stats

        runs = int(get_redis().get("chaos:runs") or 0)
        stats = control.stats()
        writes = collections.Counter(
            e["path"] for e in control.request_log("PutCharactersCharacterIdCalendarEventId") if e["status"] != 0
        )
        refresh = _refresh_rounds(args, control, redis)
        gone = vanished(redis.dir / "appendonlydir")
        ledger = ledger_stats(get_redis())
        left = _left(get_redis())
        figures = {
            "tasks": len(calls),
            "ok": tally.ok,
            "failed_clearly": sum(tally.failed_clearly.values()),
            "failed_clearly_by_error": dict(tally.failed_clearly),
            "lost": tally.lost,
            "lost_by_state": dict(tally.lost_states),
            # taken off a queue and never recorded as unacknowledged, and not pushed back (AOF)
            "messages_vanished": [
                f"{m.task}[{m.task_id}] from {m.queue}, {_nearest(m.after, events, event_times)}" for m in gone
            ],
            # the reconcile passes (esi_tasks.transport): "restored" messages lost in kombu's
            # pop/unacked gap were pushed back
            "ledger": ledger,
            "ledger_left": left,
            # connections that were cut while consuming: the killed main process's, and every
            # worker's at each Redis kill; each can lose at most the one message it was handed,
            # so the ledger never pushes back more (more would be a live message sent twice)
            "consumers_cut": 1 + redis.kills * args.workers,
            "finished_but_get_not_told": tally.unseen,
            "unfinished_task_ids": tally.lost_ids,
            "raw_errors": sum(tally.raw.values()),
            "raw_errors_by_type": dict(tally.raw),
            "status_420": stats["by_status"].get("420", 0),
            "esi_requests": stats["total"],
            "task_runs": runs,
            "runs_per_task": round(runs / max(1, len(calls)), 3),
            "writes_sent": len(writes),
            "writes_applied_twice": sum(1 for n in writes.values() if n > 1),
            "events": events,
            # the driver acts as the supervisor of the killed worker (docs/reliability.md); any
            # other worker must still run: one that exited by itself did not ride out the faults
            "worker_restarts": sum(1 for worker in workers if worker.killed),
            "workers_exited_by_themselves": [w.name for w in workers if not w.killed and w.process.poll() is not None],
            "redis_kills": redis.kills,
            "refresh": refresh,
        }
        return figures
    finally:
        for worker in workers:
            worker.stop()
        sim.stop()
        redis.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            _log(f"kept {workdir}")


def _left(client: Any) -> dict[str, int]:
    """Ledger records and task messages left at the end: a record without its message is a leak."""
    messages = sum(client.llen(queue) for queue in QUEUES.split(",")) + client.hlen("unacked")
    return {"records": client.hlen("_esi.ledger"), "messages": messages}


def _nearest(when: float, events: list[str], times: list[float]) -> str:
    """Which chaos event a vanished message is closest to (seconds after it, or before: < 0)."""
    if not times:
        return "no event"
    index = min(range(len(times)), key=lambda n: abs(when - times[n]))
    return f"{when - times[index]:+.2f} s after {events[index]!r}"


def _wait_ready(workers: list[Worker], timeout: float = 90) -> None:
    from tests.chaos.celery_app import app

    names = {f"{w.name}@chaos" for w in workers}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        replies = app.control.ping(timeout=0.5) or []
        if names <= {name for reply in replies for name in reply}:
            return
    raise RuntimeError("the chaos workers did not answer a ping in time")


def verdict(figures: dict[str, Any]) -> list[str]:
    """What did not hold (empty: every guarantee held)."""
    problems = []
    if figures["lost"]:
        problems.append(f"{figures['lost']} task(s) never finished: {figures['unfinished_task_ids']}")
    if figures["messages_vanished"]:
        problems.append(
            f"task messages vanished (taken, never unacked, not pushed back): {figures['messages_vanished']}"
        )
    if figures["ledger"].get("restored", 0) > figures["consumers_cut"]:
        problems.append(f"the ledger pushed back more messages than consumers were cut: {figures['ledger']}")
    if figures["ledger_left"]["records"] > figures["ledger_left"]["messages"]:
        problems.append(f"ledger records left without their message: {figures['ledger_left']}")
    if figures["ok"] + figures["failed_clearly"] + figures["raw_errors"] + figures["lost"] != figures["tasks"]:
        problems.append("not every task was accounted for")
    if figures["workers_exited_by_themselves"]:
        problems.append(f"worker(s) exited by themselves: {figures['workers_exited_by_themselves']}")
    if figures["raw_errors"]:
        problems.append(f"raw errors reached callers: {figures['raw_errors_by_type']}")
    if figures["status_420"]:
        problems.append(f"{figures['status_420']} x 420 from ESI")
    if figures["writes_applied_twice"]:
        problems.append(f"{figures['writes_applied_twice']} write(s) sent twice")
    refresh = figures["refresh"]
    if refresh["rounds_without_loss"] != refresh["rounds"] or refresh["sso_invalid_grant"]:
        problems.append(f"refresh token lost: {refresh}")
    if any(key.startswith("raw:") for key in refresh["outcomes"]):
        problems.append(f"raw errors reached refreshing callers: {refresh['outcomes']}")
    return problems


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--tasks", type=int, default=5000)
    p.add_argument("--duration", type=float, default=120.0, help="seconds over which the tasks are enqueued")
    p.add_argument("--drain", type=float, default=300.0, help="seconds to wait for the last results")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--error-rate", type=float, default=0.2)
    p.add_argument("--visibility-timeout", type=int, default=30)
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--refreshers", type=int, default=50)
    p.add_argument("--sso-latency", type=float, default=1.0)
    p.add_argument("--log-level", default="WARNING", help="the workers' log level (logs are in the run's directory)")
    p.add_argument("--keep", action="store_true", help="keep the run's directory (Redis, logs, database)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    figures = run(args)
    problems = verdict(figures)
    figures["problems"] = problems
    print(json.dumps(figures, indent=2))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
