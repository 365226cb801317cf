"""Shared fixtures: a real Redis (db from ESI_TEST_REDIS_URL), flushed around every test.

Under pytest-xdist (``-n N``) every worker gets a redis-server of its own on a free port, started
here by the controller (``ESI_TEST_XDIST_REDIS_URLS``, read by ``tests/settings.py``): workers
never share a database, a queue or a flush.

The flush keeps Celery's queue bindings (``_kombu.binding.*``): the session's worker declared
them once, and a message sent to an exchange without them would be dropped.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest
import redis as redis_lib
from django.conf import settings

from esi.client import _caps
from esi.redis_pool import get_redis, reset_redis


def pytest_configure(config: pytest.Config) -> None:
    workers = len(getattr(config.option, "tx", None) or []) if getattr(config.option, "numprocesses", None) else 0
    if workers and not hasattr(config, "workerinput"):  # the xdist controller, before it starts workers
        servers = [_start_redis_server() for _ in range(workers)]
        config.stash[_SERVERS] = servers
        os.environ["ESI_TEST_XDIST_REDIS_URLS"] = " ".join(url for url, _ in servers)


def pytest_unconfigure(config: pytest.Config) -> None:
    for _, server in config.stash.get(_SERVERS, []):
        server.terminate()
        server.wait(10)


_SERVERS = pytest.StashKey[list[tuple[str, subprocess.Popen[bytes]]]]()


def _start_redis_server() -> tuple[str, subprocess.Popen[bytes]]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise pytest.UsageError("-n needs redis-server on PATH (one private server per xdist worker)")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis_lib.Redis.from_url(url)
    for _ in range(500):
        try:
            client.ping()
            return url, server
        except redis_lib.ConnectionError:
            time.sleep(0.02)
    server.kill()
    raise pytest.UsageError(f"the redis-server of an xdist worker did not answer at {url}")


@pytest.fixture
def redis_client() -> Iterator[redis_lib.Redis]:
    """The test Redis database, empty at the start and the end of the test."""
    client = get_redis()
    try:
        client.ping()
    except redis_lib.ConnectionError as exc:  # pragma: no cover - environment problem
        pytest.fail(f"Redis at {settings.ESI_REDIS_URL} is not reachable: {exc}. Start redis-server.")
    flush(client)
    yield client
    flush(client)


def flush(client: redis_lib.Redis) -> None:
    """Empty the test database but Celery's queue bindings."""
    bindings = {key: client.smembers(key) for key in client.scan_iter("_kombu.binding.*")}
    client.flushdb()
    if bindings:
        with client.pipeline(transaction=False) as pipe:
            for key, members in bindings.items():
                pipe.sadd(key, *members)
            pipe.execute()


@pytest.fixture(autouse=True)
def _fresh_process_state() -> Iterator[None]:
    """What a process keeps across tests: the capped values it logged once, the current Celery
    app (``Celery(...)`` makes itself current), the Redis pool.

    Without it a test passes or fails with what ran before it in the same process (another order
    under ``-n N``): a "logged once" line already logged, tasks sent through another test's app.
    """
    from tests.celery_app import app  # not at import: it loads the task modules, after django.setup()

    _caps._noted.clear()
    app.set_current()
    yield
    reset_redis()
