"""Real Celery workers for the task tests: a threads pool in-process, prefork in a subprocess.

Both use the Redis broker of ``ESI_TEST_REDIS_URL`` and the simulator of the session. The
threads worker is one per session (``tests.workers``: drained after every test, so every test
gets empty queues and no task of an earlier test); prefork workers are per test.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from tests.celery_app import app as test_app
from tests.workers import QUEUES, SessionWorker

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def celery_app() -> Any:
    return test_app


@pytest.fixture
def fast_policy(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Short waits: the client does not retry 5xx itself, Celery backs off for ~0.1 s."""
    from esi_tasks import tasks

    settings.ESI_SERVER_ERROR_MAX_RETRIES = 0
    settings.ESI_SERVER_ERROR_WAIT_EXPONENT = 0.01
    for task in (tasks.fetch_endpoint, tasks.keep_fresh, tasks.refresh_token, tasks.run_schedule):
        monkeypatch.setattr(task, "retry_backoff", 0.1)
        monkeypatch.setattr(task, "retry_backoff_max", 0.5)
        monkeypatch.setattr(task, "requeue_jitter_max", 0.2)


@pytest.fixture(scope="session")
def session_threads_worker() -> Iterator[SessionWorker]:
    worker = SessionWorker()
    try:
        yield worker
    finally:
        worker.close()


@pytest.fixture
def threads_worker(
    redis_client: Any, esi_sim: Any, fast_policy: None, session_threads_worker: SessionWorker
) -> Iterator[Any]:
    """The session's in-process worker (threads pool, 4 threads) consuming every ESI queue."""
    yield from session_threads_worker.for_test()


def _database_url() -> str:
    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{s['NAME']}"
    user = s.get("USER") or "postgres"
    host = s.get("HOST") or "127.0.0.1"
    port = s.get("PORT") or 5432
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{host}:{port}/{s['NAME']}"


def subprocess_env(url: str) -> dict[str, str]:
    """Environment of a worker or beat subprocess: the test's database, Redis and simulator."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="tests.tasks.worker_settings",
        ESI_TEST_WORKER_DATABASE_URL=_database_url(),
        ESI_TEST_API_URL=url + "/",
        ESI_TEST_SSO_URL=url,
        PYTHONPATH=str(ROOT),
    )
    return env


class PreforkWorker:
    """``celery -A tests.celery_app worker -P prefork -c 2`` in a subprocess."""

    def __init__(self, url: str, concurrency: int = 2) -> None:
        env = subprocess_env(url)
        self.hostname = f"prefork-{os.getpid()}-{time.monotonic_ns()}@localhost"
        self.process = subprocess.Popen(
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
                str(concurrency),
                "-Q",
                ",".join(QUEUES),
                "-n",
                self.hostname,
                "--without-heartbeat",
                "--without-mingle",
                "--without-gossip",
                "-l",
                "WARNING",
                "--prefetch-multiplier",
                "1",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prefork worker exited: {self.process.stderr.read().decode()[-3000:]}")
            replies = test_app.control.ping(destination=[self.hostname], timeout=0.5)
            if replies:
                return
        raise RuntimeError("prefork worker did not answer a ping in time")

    def child_pids(self) -> list[int]:
        """Pids of the pool's child processes (Linux ``/proc``)."""
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.process.pid and fields[0] != "Z":
                children.append(int(stat.parent.name))
        return children

    def active(self) -> list[dict[str, Any]]:
        replies = test_app.control.inspect(destination=[self.hostname], timeout=1).active() or {}
        return [task for tasks in replies.values() for task in tasks]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self.process.stderr:
            self.process.stderr.close()


@pytest.fixture
def prefork_worker(redis_client: Any, esi_sim: Any) -> Iterator[PreforkWorker]:
    worker = PreforkWorker(esi_sim.url)
    try:
        worker.wait_ready()
        yield worker
    finally:
        worker.stop()


def _jwt_claims(access_token: str) -> dict[str, Any]:
    """The claims of a simulator JWT (verification is the SSO tests' business)."""
    payload = access_token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


@pytest.fixture
def make_token(esi_sim: Any) -> Callable[..., Any]:
    """Store a token that the simulator's SSO issued (no browser flow)."""
    from esi.models import Scope, Token

    def make(
        character_id: int = 90000001, scopes: list[str] | None = None, expires_in: int = 1199, **fields: Any
    ) -> Any:
        scopes = scopes or []
        issued = esi_sim.issue_tokens(character_id, scopes, expires_in=expires_in)
        claims = _jwt_claims(issued["access_token"])
        token = Token.objects.create(
            character_id=character_id,
            character_name=claims["name"],
            character_owner_hash=claims["owner"],
            access_token=issued["access_token"],
            refresh_token=issued["refresh_token"],
            access_token_expires=timezone.now() + dt.timedelta(seconds=expires_in),
            **fields,
        )
        for name in scopes:
            scope, _ = Scope.objects.get_or_create(name=name, defaults={"help_text": name})
            token.scopes.add(scope)
        return token

    return make


def wait_for(predicate: Callable[[], Any], timeout: float = 10, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


class Published:
    """Messages published in this process (``before_task_publish``): task id, eta, retries, headers."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def __call__(self, sender: Any = None, headers: Any = None, **kwargs: Any) -> None:
        headers = dict(headers or {})
        self.messages.append(
            {
                "task": sender,
                "id": headers.get("id"),
                "eta": headers.get("eta"),
                "retries": headers.get("retries"),
                "requeues": headers.get("esi_requeues"),
                "sent_at": dt.datetime.now(dt.UTC),
            }
        )

    def of(self, task_id: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["id"] == task_id]


@pytest.fixture
def published() -> Iterator[Published]:
    from celery.signals import before_task_publish

    recorder = Published()
    before_task_publish.connect(recorder, weak=False)
    try:
        yield recorder
    finally:
        before_task_publish.disconnect(recorder)


@pytest.fixture
def received_signals() -> Iterator[dict[str, list[dict[str, Any]]]]:
    from esi_tasks.signals import endpoint_fetched, fetch_failed

    seen: dict[str, list[dict[str, Any]]] = {"fetched": [], "failed": []}

    def on_fetched(sender: Any, **kwargs: Any) -> None:
        seen["fetched"].append({**kwargs, "at": time.monotonic(), "wall": dt.datetime.now(dt.UTC)})

    def on_failed(sender: Any, **kwargs: Any) -> None:
        seen["failed"].append(kwargs)

    endpoint_fetched.connect(on_fetched, weak=False)
    fetch_failed.connect(on_failed, weak=False)
    try:
        yield seen
    finally:
        endpoint_fetched.disconnect(on_fetched)
        fetch_failed.disconnect(on_failed)
