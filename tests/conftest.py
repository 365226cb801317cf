"""Shared fixtures: a real Redis (db from ESI_TEST_REDIS_URL), flushed around every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis as redis_lib
from django.conf import settings

from esi.redis_pool import get_redis, reset_redis


@pytest.fixture
def redis_client() -> Iterator[redis_lib.Redis]:
    """The test Redis database, empty at the start and the end of the test."""
    client = get_redis()
    try:
        client.ping()
    except redis_lib.ConnectionError as exc:  # pragma: no cover - environment problem
        pytest.fail(f"Redis at {settings.ESI_REDIS_URL} is not reachable: {exc}. Start redis-server.")
    client.flushdb()
    yield client
    client.flushdb()


@pytest.fixture(autouse=True)
def _fresh_redis_pool() -> Iterator[None]:
    yield
    reset_redis()
