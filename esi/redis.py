"""One Redis connection pool per process, rebuilt after ``fork`` (Celery prefork workers).

Everything that talks to Redis (cache, limits, locks, JWKS) calls :func:`get_redis`.
"""

from __future__ import annotations

import os
import threading

import redis

from esi.app_settings import esi_settings

__all__ = ["get_redis", "reset_redis"]

_lock = threading.Lock()
_clients: dict[tuple[int, str], redis.Redis] = {}


def get_redis() -> redis.Redis:
    """The process-wide Redis client for ``ESI_REDIS_URL`` (bytes responses, pooled)."""
    url: str = esi_settings.ESI_REDIS_URL
    key = (os.getpid(), url)
    client = _clients.get(key)
    if client is None:
        with _lock:
            client = _clients.get(key)
            if client is None:
                client = redis.Redis.from_url(url, health_check_interval=30, socket_connect_timeout=2)
                _clients[key] = client
    return client


def reset_redis() -> None:
    """Drop every pooled connection (tests, and after a settings change)."""
    with _lock:
        for client in _clients.values():
            client.connection_pool.disconnect()
        _clients.clear()
