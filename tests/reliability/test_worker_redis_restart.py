"""A prefork worker rides out a Redis SIGKILL and restart while it runs tasks and waits in BRPOP.

With Celery's own consumer the worker's main process exits ("Unrecoverable error:
AttributeError(...'hostname')", see esi_tasks/consumer.py); with esi_tasks' it reconnects, the
running tasks' results are stored and it takes new work. The second case shows the first one
meets the fault: when it fails, Celery has fixed the bug and esi_tasks.consumer can go.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.chaos.redis_server import PrivateRedis

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


def _wait_for(condition, what: str, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


@pytest.fixture(scope="module")
def private_redis():  # type: ignore[no-untyped-def]
    """One Redis for the module: the app below connects to it once (kombu keeps its pools)."""
    redis = PrivateRedis().start()
    os.environ["ESI_RESTART_REDIS_URL"] = redis.url()
    from tests.reliability import restart_app

    restart_app.app.conf.broker_url = restart_app.app.conf.result_backend = redis.url()
    yield redis
    os.environ.pop("ESI_RESTART_REDIS_URL", None)
    redis.stop()


def _start_worker(redis: PrivateRedis, log: Path, consumer: str | None) -> subprocess.Popen[bytes]:
    env = {**os.environ, "ESI_RESTART_REDIS_URL": redis.url(), "PYTHONPATH": str(ROOT)}
    env.pop("ESI_RESTART_CONSUMER", None)
    env.pop("DJANGO_SETTINGS_MODULE", None)  # no Django: esi_tasks' ready() would set the consumer again
    if consumer:
        env["ESI_RESTART_CONSUMER"] = consumer
    with log.open("wb") as out:
        return subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "tests.reliability.restart_app", "worker",
                "-P", "prefork", "-c", "4", "--without-heartbeat", "--without-mingle", "--without-gossip",
                "-l", "INFO", "-n", "restart@test",
            ],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


def _restart_redis_under_load(redis: PrivateRedis, tmp_path: Path, consumer: str | None):  # type: ignore[no-untyped-def]
    """Two tasks running (two of four processes free: the consumer waits in BRPOP), Redis
    SIGKILLed, restarted once the worker saw the loss, then the tasks let go."""
    from tests.reliability import restart_app

    log = tmp_path / "worker.log"
    worker = _start_worker(redis, log, consumer)
    try:
        _wait_for(lambda: "ready." in log.read_text(errors="replace"), "the worker to start")
        running = [restart_app.hold.delay(str(tmp_path)) for _ in range(2)]
        _wait_for(lambda: len(list(tmp_path.glob("started-*"))) == 2, "both tasks to start")
        redis.kill()
        _wait_for(lambda: "Connection to broker lost" in log.read_text(errors="replace"), "the worker to see it")
        redis.start()
        (tmp_path / "go").touch()
        return worker, log, running
    except BaseException:
        worker.kill()
        raise


def test_worker_rides_out_a_redis_restart(private_redis: PrivateRedis, tmp_path: Path) -> None:
    from tests.reliability import restart_app

    worker, log, running = _restart_redis_under_load(private_redis, tmp_path, consumer=None)
    try:
        pids = [result.get(timeout=90) for result in running]
        after = [restart_app.hold.delay(str(tmp_path)) for _ in range(4)]
        pids += [result.get(timeout=90) for result in after]
        text = log.read_text(errors="replace")
        assert worker.poll() is None, text[-3000:]
        assert "Unrecoverable error" not in text
        assert len(pids) == 6
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)


def test_celerys_own_consumer_exits_on_the_same_restart(private_redis: PrivateRedis, tmp_path: Path) -> None:
    worker, log, _ = _restart_redis_under_load(private_redis, tmp_path, consumer="celery.worker.consumer:Consumer")
    try:
        worker.wait(timeout=60)
        text = log.read_text(errors="replace")
        assert "Unrecoverable error: AttributeError(\"'NoneType' object has no attribute 'hostname'\")" in text
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=30)


def test_a_worker_started_while_redis_is_down_waits_for_it(private_redis: PrivateRedis, tmp_path: Path) -> None:
    """``broker_connection_retry_on_startup`` (set by esi_tasks): a worker started during a Redis
    restart retries its first connection instead of exiting, and takes work once Redis is up."""
    from tests.reliability import restart_app

    private_redis.kill()
    log = tmp_path / "worker.log"
    worker = _start_worker(private_redis, log, consumer=None)
    try:
        _wait_for(lambda: "Cannot connect to" in log.read_text(errors="replace"), "the worker to meet the dead Redis")
        private_redis.start()
        (tmp_path / "go").touch()
        assert restart_app.hold.delay(str(tmp_path)).get(timeout=90) > 0
        assert worker.poll() is None, log.read_text(errors="replace")[-3000:]
    finally:
        if private_redis.process is None or private_redis.process.poll() is not None:
            private_redis.start()
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
