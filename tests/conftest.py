"""Shared fixtures: a real Redis (db from ESI_TEST_REDIS_URL), flushed around every test.

Under pytest-xdist (``-n N``) every worker gets a redis-server of its own on a free port, started
here by the controller (``ESI_TEST_XDIST_REDIS_URLS``, read by ``tests/settings.py``): workers
never share a database, a queue or a flush.

The flush keeps Celery's queue bindings (``_kombu.binding.*``): the session's worker declared
them once, and a message sent to an exchange without them would be dropped.
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Iterator

import pytest
import redis as redis_lib
from django.conf import settings

from esi.client import _caps
from esi.dashboard import counters
from esi.redis_pool import get_redis, reset_redis
from tests.servers import start_redis_server


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
    try:
        return start_redis_server()
    except RuntimeError as exc:
        raise pytest.UsageError(f"-n N needs a redis-server per xdist worker: {exc}") from None


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


@pytest.fixture(scope="session")
def _root_log_level() -> int:
    """The root logger's level from tests/settings.py (before a Celery worker sets its own)."""
    return logging.root.level


@pytest.fixture(autouse=True)
def _fresh_process_state(_root_log_level: int) -> Iterator[None]:
    """What a process keeps across tests: the capped values it logged once, the current Celery
    app (``Celery(...)`` makes itself current), the root logger's level (an in-process Celery
    worker sets it to WARNING), the dashboard's call counters not yet sent, the Redis pool.

    Without it a test passes or fails with what ran before it in the same process (another order
    under ``-n N``): a "logged once" line already logged, tasks sent through another test's app,
    an earlier test's calls written to Redis by the counters' thread after this test's flush,
    INFO records a test listens for dropped before they reach its handler.
    """
    from tests.celery_app import app  # not at import: it loads the task modules, after django.setup()

    _caps._noted.clear()
    app.set_current()
    logging.root.setLevel(_root_log_level)
    counters.recorder.drop()
    counters.recorder.flush()  # returns once a send the counters' thread had started is done
    yield
    reset_redis()
