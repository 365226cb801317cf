"""One Redis client per process, configured by settings and rebuilt after ``fork``.

Everything that talks to Redis (cache, limits, locks, dedup claims, JWKS) calls :func:`get_redis`,
so one set of settings decides how a slow or restarting Redis is met: ``ESI_REDIS_SOCKET_TIMEOUT``
(no call hangs a worker), ``ESI_REDIS_CONNECT_TIMEOUT``, ``ESI_REDIS_RETRIES`` retries of
connection errors and timeouts with exponential backoff (redis-py's ``Retry`` and
``ExponentialBackoff``: a Redis restart of a second or two is ridden out) and
``ESI_REDIS_HEALTH_CHECK_INTERVAL`` (idle pooled connections are checked before use).

What is still failing after that is the caller's to decide: :func:`unavailable` turns it into the
one documented :class:`~esi.exceptions.RedisUnavailable` (the cause chained), and
:data:`REDIS_ERRORS` is what bookkeeping code catches to skip a step.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from esi.app_settings import esi_settings
from esi.exceptions import RedisUnavailable

__all__ = ["REDIS_ERRORS", "get_redis", "reset_redis", "unavailable"]

#: Every error redis-py raises for a Redis that is down, slow, restarting or read-only.
REDIS_ERRORS: tuple[type[BaseException], ...] = (redis.RedisError, OSError)

_lock = threading.Lock()
_clients: dict[tuple[int, str], redis.Redis] = {}


def _build(url: str) -> redis.Redis:
    s = esi_settings
    retries = max(0, int(s.ESI_REDIS_RETRIES))
    backoff = float(s.ESI_REDIS_RETRY_BACKOFF)
    retry = Retry(
        ExponentialBackoff(cap=max(backoff, 8 * backoff), base=backoff),
        retries,
        supported_errors=(redis.ConnectionError, redis.TimeoutError, ConnectionError, TimeoutError),
    )
    client: redis.Redis = redis.Redis.from_url(
        url,
        socket_timeout=float(s.ESI_REDIS_SOCKET_TIMEOUT),
        socket_connect_timeout=float(s.ESI_REDIS_CONNECT_TIMEOUT),
        health_check_interval=int(s.ESI_REDIS_HEALTH_CHECK_INTERVAL),
        retry=retry,
        retry_on_error=[redis.ConnectionError, redis.TimeoutError],
    )
    return client


def get_redis() -> redis.Redis:
    """The process-wide Redis client for ``ESI_REDIS_URL`` (bytes responses, pooled)."""
    url: str = esi_settings.ESI_REDIS_URL
    key = (os.getpid(), url)
    client = _clients.get(key)
    if client is None:
        with _lock:
            client = _clients.get(key)
            if client is None:
                client = _build(url)
                _clients[key] = client
    return client


def reset_redis() -> None:
    """Drop every pooled connection (tests, and after a settings change)."""
    with _lock:
        for client in _clients.values():
            client.connection_pool.disconnect()
        _clients.clear()


@contextlib.contextmanager
def unavailable(what: str) -> Iterator[None]:
    """Raise :class:`RedisUnavailable` naming ``what`` when Redis fails inside the block."""
    try:
        yield
    except REDIS_ERRORS as exc:
        raise RedisUnavailable(
            f"Redis at ESI_REDIS_URL did not answer while {what} ({type(exc).__name__}); "
            "nothing was changed. Retry once Redis is back."
        ) from exc
