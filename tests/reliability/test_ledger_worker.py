"""A real prefork worker with esi_tasks' transport: a task message taken off its queue and never
recorded as unacknowledged (what a worker main process or Redis SIGKILLed between kombu's BRPOP
and its HSET leaves) runs once, and every acknowledged task leaves no ledger record."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from esi_tasks.transport import ledger_stats
from tests.chaos.redis_server import PrivateRedis

ROOT = Path(__file__).resolve().parents[2]
TASKS = 30

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis().start()
    os.environ["ESI_LEDGER_REDIS_URL"] = server.url()
    from tests.reliability import ledger_app

    ledger_app.url = ledger_app.app.conf.broker_url = ledger_app.app.conf.result_backend = server.url()
    yield server
    os.environ.pop("ESI_LEDGER_REDIS_URL", None)
    server.stop()


def test_a_message_lost_in_kombus_gap_runs_once_and_acks_leave_no_record(
    private_redis: PrivateRedis, tmp_path: Path
) -> None:
    from tests.reliability.ledger_app import count

    raw = redis.Redis.from_url(private_redis.url())
    lost = count.delay("runs:lost")
    assert raw.rpop("celery") is not None  # the gap: off the queue, not in unacked
    others = [count.delay(f"runs:{n}") for n in range(TASKS)]
    env = {**os.environ, "ESI_LEDGER_REDIS_URL": private_redis.url(), "PYTHONPATH": str(ROOT)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "tests.reliability.ledger_app", "worker",
                "-P", "prefork", "-c", "2", "--without-heartbeat", "--without-mingle", "--without-gossip",
                "-l", "INFO", "-n", "ledger@test",
            ],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        assert lost.get(timeout=60) == 1
        assert [result.get(timeout=60) for result in others] == [1] * TASKS
        passes = ledger_stats(raw)["passes"]
        _wait_for(lambda: ledger_stats(raw)["passes"] >= passes + 6, "six more reconcile passes")
        runs = [int(raw.get(f"runs:{n}") or 0) for n in range(TASKS)]
        assert (int(raw.get("runs:lost") or 0), runs) == (1, [1] * TASKS)
        stats = ledger_stats(raw)
        assert stats["restored"] == 1 and stats["suspected"] >= 1, stats  # a live worker may be looked at once
        assert [raw.exists(key) for key in ("_esi.ledger", "_esi.ledger_index", "_esi.ledger_suspect")] == [0, 0, 0]
        assert raw.llen("celery") == 0 and raw.hlen("unacked") == 0
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    assert "pushed back 1 task message" in log.read_text(errors="replace")
