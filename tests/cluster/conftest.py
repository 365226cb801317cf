"""A real 3-master Redis Cluster and a real Sentinel, started once for this folder.

``on_cluster`` / ``on_sentinel`` point ``ESI_REDIS_URL`` (cache, limits, locks, dedup) at them for
one test; the Celery broker and result backend stay on the plain test Redis
(``ESI_TEST_REDIS_URL``): kombu's Redis transport does not support Redis Cluster.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from esi.redis_pool import get_redis, reset_redis
from tests.cluster.servers import LocalCluster, LocalSentinel
from tests.sso.fixtures import make_token, sso  # noqa: F401


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[LocalCluster]:
    cluster = LocalCluster()
    try:
        yield cluster.start()
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def redis_sentinel() -> Iterator[LocalSentinel]:
    sentinel = LocalSentinel()
    try:
        yield sentinel.start()
    finally:
        sentinel.stop()


def _switch(settings: Any, url: str) -> Any:
    settings.ESI_REDIS_URL = url
    reset_redis()
    client = get_redis()
    client.flushall()  # on a cluster: every master
    return client


@pytest.fixture
def on_cluster(redis_client: Any, redis_cluster: LocalCluster, settings: Any) -> Iterator[Any]:
    """``ESI_REDIS_URL`` is the cluster (empty) for this test; the plain test Redis is empty too."""
    client = _switch(settings, redis_cluster.url)
    yield client
    client.flushall()
    reset_redis()


@pytest.fixture
def on_sentinel(redis_client: Any, redis_sentinel: LocalSentinel, settings: Any) -> Iterator[Any]:
    """``ESI_REDIS_URL`` is the Sentinel-managed master (db 2, empty) for this test."""
    client = _switch(settings, redis_sentinel.url(2))
    yield client
    client.flushall()
    reset_redis()
