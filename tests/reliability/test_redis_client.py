"""The one Redis client is configured by settings: timeouts, retries with backoff, health checks."""

from __future__ import annotations

import os
import signal

import pytest
from redis.backoff import ExponentialBackoff

from esi.client import get_client
from esi.exceptions import RedisUnavailable
from esi.models import Token
from esi.redis_pool import get_redis, reset_redis, unavailable
from esi_tasks import dedup, errors_memory
from tests.chaos.redis_server import PrivateRedis, free_port


def test_client_follows_the_settings(settings) -> None:
    settings.ESI_REDIS_SOCKET_TIMEOUT = 3
    settings.ESI_REDIS_CONNECT_TIMEOUT = 1.5
    settings.ESI_REDIS_RETRIES = 4
    settings.ESI_REDIS_RETRY_BACKOFF = 0.1
    settings.ESI_REDIS_HEALTH_CHECK_INTERVAL = 11
    reset_redis()
    client = get_redis()
    kwargs = client.connection_pool.connection_kwargs
    assert kwargs["socket_timeout"] == 3 and kwargs["socket_connect_timeout"] == 1.5
    assert kwargs["health_check_interval"] == 11
    retry = kwargs["retry"]
    assert retry._retries == 4 and isinstance(retry._backoff, ExponentialBackoff)


def test_a_redis_restart_is_ridden_out_by_the_retries(settings) -> None:
    private = PrivateRedis().start()
    try:
        settings.ESI_REDIS_URL = private.url()
        settings.ESI_REDIS_RETRIES = 6
        settings.ESI_REDIS_RETRY_BACKOFF = 0.25
        reset_redis()
        client = get_redis()
        client.set("kept", "1")
        private.kill()
        import threading

        threading.Timer(0.5, private.start).start()
        assert client.get("kept") == b"1"  # AOF kept it; the retries waited for the restart
    finally:
        private.stop()
        reset_redis()


def test_a_dead_redis_becomes_redis_unavailable(settings) -> None:
    settings.ESI_REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    settings.ESI_REDIS_RETRIES = 0
    reset_redis()
    with pytest.raises(RedisUnavailable, match="reading the thing") as info, unavailable("reading the thing"):
        get_redis().get("x")
    assert info.value.__cause__ is not None


@pytest.mark.django_db
def test_a_stalled_redis_hangs_nothing(settings, sso, make_token) -> None:
    """Redis stops answering (SIGSTOP: connections open, no reply). Cache, limiter, refresh lock,
    dedup claims and error memory all meet the one client's socket timeout: the call ends in
    ``RedisUnavailable`` with nothing sent, the bookkeeping is skipped; all work again after."""
    private = PrivateRedis().start()
    try:
        settings.ESI_REDIS_URL = private.url()
        settings.ESI_REDIS_SOCKET_TIMEOUT = 0.3
        settings.ESI_REDIS_RETRIES = 1
        settings.ESI_REDIS_RETRY_BACKOFF = 0.01
        reset_redis()
        token = make_token(expired=True)
        before = Token.objects.filter(pk=token.pk).values().get()
        assert private.process is not None
        os.kill(private.process.pid, signal.SIGSTOP)
        try:
            with pytest.raises(RedisUnavailable, match="nothing was sent to ESI"):
                get_client().call("GetStatus")
            with pytest.raises(RedisUnavailable, match="refresh lock"):
                token.valid_access_token()
            assert dedup.claim(dedup.queued_key("x"), "task-1", 30) is None  # sent unshared
            assert errors_memory.recall("GetStatus", {}, None) is None
        finally:
            os.kill(private.process.pid, signal.SIGCONT)
        assert sso.stats()["total"] == 0 and sso.stats()["sso"].get("token_refresh_token", 0) == 0
        assert Token.objects.filter(pk=token.pk).values().get() == before
        assert "players" in get_client().call("GetStatus").data
        assert token.valid_access_token() != before["access_token"]
    finally:
        private.stop()
        reset_redis()
