"""A refresh survives every fault after SSO answered: the rotated refresh token is stored first,
a refresh is never sent twice, the lock outlives a slow SSO, Redis trouble is a clear error."""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.db import connection
from joserfc import jwt
from joserfc.jwk import RSAKey

from esi.exceptions import JWTValidationError, RedisUnavailable, SSOError, SSOUnavailable
from esi.models import Token
from esi.redis_pool import get_redis, reset_redis
from esi.sso._metadata import cache_key
from esi.tokens import token_lock
from tests.chaos.redis_server import PrivateRedis, free_port
from tests.servers import wait_until


def refreshes(sim: Any) -> int:
    return sim.stats()["sso"].get("token_refresh_token", 0)


def invalid_grants(sim: Any) -> int:
    return sim.stats()["sso"].get("token_error_invalid_grant", 0)


class FakeTokenEndpoint:
    """An SSO token endpoint that answers what the test says (a signed JWT with chosen claims)."""

    def __init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "fault-key", "alg": "RS256"})
        self.body: bytes = b""
        self.status = 200
        self.requests = 0
        #: when set, the answer waits for it (the request has been read: SSO rotates "now")
        self.gate: threading.Event | None = None
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                outer.requests += 1
                if outer.gate is not None:
                    outer.gate.wait(60)
                self.send_response(outer.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(outer.body)))
                self.end_headers()
                self.wfile.write(outer.body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v2/oauth/token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, issuer: str, refresh_token: str, **changes: Any) -> None:
        claims = {
            "sub": "CHARACTER:EVE:90000001",
            "iss": issuer,
            "aud": ["test-client-id", "EVE Online"],
            "exp": int(time.time()) + 1199,
            "owner": "owner-hash-one",
            "name": "Harness Pilot One",
            "scp": ["esi-assets.read_assets.v1"],
            **changes,
        }
        access = jwt.encode({"alg": "RS256", "kid": "fault-key"}, claims, self.key)
        token = {"access_token": access, "expires_in": 1199, "token_type": "Bearer", "refresh_token": refresh_token}
        self.body = json.dumps(token).encode()

    def refuse(self) -> None:
        """Answer ``invalid_grant``, as SSO does for a refresh token it has rotated already."""
        self.status = 400
        self.body = json.dumps({"error": "invalid_grant", "error_description": "Invalid refresh token."}).encode()


@pytest.fixture
def fake_sso(sso: Any, settings: Any) -> Iterator[FakeTokenEndpoint]:
    """Refreshes go to :class:`FakeTokenEndpoint`; its key is the one published in the JWKS cache."""
    fake = FakeTokenEndpoint()
    settings.ESI_CODE_EXCHANGE_URL = fake.url  # django-esi 10's setting for the token endpoint
    yield fake
    fake.server.shutdown()
    fake.server.server_close()
    get_redis().delete(cache_key("metadata"), cache_key("jwks"))
    from esi.sso import clear_key_cache

    clear_key_cache()


def _point_at(fake: FakeTokenEndpoint, sso: Any) -> None:
    get_redis().set(cache_key("jwks"), json.dumps({"keys": [fake.key.as_dict(private=False)]}))
    get_redis().set(cache_key("jwks-refetch"), 1, ex=60)  # no refetch: the fake key is the only one


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"exp": 1e20}, JWTValidationError, "'exp'"),  # OverflowError before
        ({"scp": 5}, JWTValidationError, "'scp'"),  # TypeError before
        ({"sub": "CHARACTER:EVE:\u0669\u0660\u0660\u0660\u0660\u0660\u0660\u0661"}, JWTValidationError, "subject"),
        ({"sub": "CHARACTER:EVE:90000002"}, SSOError, "character 90000002"),
    ],
    ids=["exp-1e20", "scp-5", "sub-arabic-digits", "character-mismatch"],
)
def test_rotated_refresh_token_is_stored_whatever_fails_after_sso_answered(
    sso, make_token, fake_sso, changes, error, message
) -> None:
    token = make_token(expired=True)
    old_access = token.access_token
    _point_at(fake_sso, sso)
    fake_sso.answer(sso.url, "rotated-by-sso", **changes)
    with pytest.raises(error, match=message):
        token.valid_access_token()
    stored = Token.objects.get(pk=token.pk)
    assert stored.refresh_token == "rotated-by-sso"  # the only live refresh token is kept
    assert stored.access_token == old_access  # the refused access token is not
    assert fake_sso.requests == 1


@pytest.mark.django_db
def test_non_ascii_digits_in_sub_are_refused(sso, fake_sso) -> None:
    from esi.sso import verify_access_token

    _point_at(fake_sso, sso)
    fake_sso.answer(sso.url, "x", sub="CHARACTER:EVE:\u0661\u0662\u0663")
    access = json.loads(fake_sso.body)["access_token"]
    with pytest.raises(JWTValidationError, match="not an EVE character"):
        verify_access_token(access)


@pytest.mark.django_db
def test_a_non_json_answer_is_a_clear_error_and_not_sent_again(sso, make_token, fake_sso) -> None:
    token = make_token(expired=True)
    before = Token.objects.filter(pk=token.pk).values().get()
    _point_at(fake_sso, sso)
    fake_sso.body = b"<html>maintenance</html>"
    with pytest.raises(SSOUnavailable, match="not JSON"):
        token.valid_access_token()
    assert fake_sso.requests == 1
    assert Token.objects.filter(pk=token.pk).values().get() == before


@pytest.mark.django_db
def test_a_timed_out_refresh_is_never_sent_again_with_the_same_refresh_token(sso, make_token, settings) -> None:
    token = make_token(expired=True)
    settings.ESI_REQUESTS_READ_TIMEOUT = 0.3
    settings.ESI_SERVER_ERROR_MAX_RETRIES = 3
    sso.configure_route("SsoToken", latency=0.8)  # SSO reads it, rotates, answers too late
    with pytest.raises(SSOUnavailable, match="not sent again"):
        token.valid_access_token()
    time.sleep(1.5)  # the simulator finishes the abandoned request
    assert refreshes(sso) == 1 and invalid_grants(sso) == 0  # before: 4 requests, 3 x invalid_grant


@pytest.mark.django_db
def test_a_5xx_refresh_is_never_sent_again(sso, make_token) -> None:
    token = make_token(expired=True)
    sso.configure_route("SsoToken", status=502)
    log: list[str] = []

    class Count(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            log.append(record.getMessage())

    handler = Count()
    logging.getLogger("esi.sso._http").addHandler(handler)
    try:
        with pytest.raises(SSOUnavailable, match="not sent again"):
            token.valid_access_token()
    finally:
        logging.getLogger("esi.sso._http").removeHandler(handler)
    assert not [line for line in log if "retry" in line]
    assert Token.objects.filter(pk=token.pk).exists()


def test_the_lock_lifetime_is_a_setting(settings) -> None:
    settings.ESI_TOKEN_REFRESH_LOCK_TIMEOUT = 7
    assert token_lock(1).timeout == 7


@pytest.mark.django_db(transaction=True)
def test_a_refresh_slower_than_the_lock_keeps_its_lock(sso, make_token, settings) -> None:
    """SSO takes 2.5 lock lifetimes to answer: the lock is extended, the second caller waits."""
    settings.ESI_TOKEN_REFRESH_LOCK_TIMEOUT = 2
    sso.configure_route("SsoToken", latency=5)
    token = make_token(expired=True)
    key = f"esi:token-lock:{token.pk}"

    def work(second: bool) -> str:
        mine = Token.objects.get(pk=token.pk)
        if second:  # comes when the first caller's lock would have expired, were it not extended
            deadline = time.monotonic() + 10
            while not get_redis().exists(key) and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(2.5)
        try:
            return mine.valid_access_token()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(work, [False, True]))
    assert refreshes(sso) == 1 and invalid_grants(sso) == 0
    assert results[0] == results[1] == Token.objects.get(pk=token.pk).access_token


@pytest.mark.django_db
def test_redis_down_at_the_lock_is_redis_unavailable_and_the_token_is_intact(sso, make_token, settings) -> None:
    token = make_token(expired=True)
    before = Token.objects.filter(pk=token.pk).values().get()
    settings.ESI_REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    settings.ESI_REDIS_RETRY_BACKOFF = 0.01
    reset_redis()
    with pytest.raises(RedisUnavailable, match="refresh lock") as info:
        token.valid_access_token()
    assert token.refresh_token not in str(info.value)
    assert Token.objects.filter(pk=token.pk).values().get() == before
    assert refreshes(sso) == 0


@pytest.mark.django_db
def test_redis_killed_while_sso_answers_keeps_the_rotated_token(sso, make_token, settings) -> None:
    """Redis dies during the refresh: the JWKS read and the lock release fail, nothing is lost."""
    private = PrivateRedis().start()
    try:
        settings.ESI_REDIS_URL = private.url()
        settings.ESI_REDIS_RETRIES = 1
        settings.ESI_REDIS_RETRY_BACKOFF = 0.01
        settings.ESI_TOKEN_REFRESH_LOCK_TIMEOUT = 2
        reset_redis()
        token = make_token(expired=True)
        old_refresh = token.refresh_token
        get_redis().delete(cache_key("jwks"))  # the JWKS must come from Redis or SSO at verification
        sso.configure_route("SsoToken", latency=1.5)
        killer = threading.Timer(0.5, private.kill)
        killer.start()
        access = token.valid_access_token()
        killer.join()
        stored = Token.objects.get(pk=token.pk)
        assert stored.refresh_token != old_refresh and stored.access_token == access
        assert refreshes(sso) == 1 and invalid_grants(sso) == 0
        private.start()  # back (AOF): the orphaned lock expires by itself, the next refresh works
        reset_redis()
        sso.configure_route("SsoToken", latency=None)
        stored.refresh()
        assert refreshes(sso) == 2 and invalid_grants(sso) == 0
    finally:
        private.stop()
        reset_redis()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("answer", ["rotated", "invalid_grant"])
def test_a_lock_lost_while_sso_answers_is_noticed(sso, make_token, fake_sso, settings, caplog, answer) -> None:
    """Redis stalls (SIGSTOP) while SSO works on the refresh, longer than the lock lives: the lock
    expires, the keeper finds it gone. SSO's rotated token is still stored (it is SSO's newest);
    an ``invalid_grant`` then may mean another process's refresh holds the new token, so the
    token is kept and the caller told to try again, not deleted."""
    private = PrivateRedis().start()
    caplog.set_level(logging.WARNING, logger="esi.tokens._lock")
    shared = settings.ESI_REDIS_URL  # back to it before fake_sso's teardown cleans the key cache
    try:
        settings.ESI_REDIS_URL = private.url()
        settings.ESI_REDIS_RETRIES = 0
        settings.ESI_REDIS_SOCKET_TIMEOUT = 0.2
        settings.ESI_TOKEN_REFRESH_LOCK_TIMEOUT = 1
        reset_redis()
        token = make_token(expired=True)
        before = Token.objects.filter(pk=token.pk).values().get()
        _point_at(fake_sso, sso)
        fake_sso.answer(sso.url, "rotated-by-sso")
        if answer == "invalid_grant":
            fake_sso.refuse()
        fake_sso.gate = threading.Event()

        def warnings(text: str) -> int:
            return sum(text in r.getMessage() for r in caplog.records if r.name == "esi.tokens._lock")

        with ThreadPoolExecutor(max_workers=1) as pool:
            refreshing = pool.submit(_valid_access_token, token.pk)
            wait_until("the refresh to reach SSO", lambda: fake_sso.requests == 1, timeout=60)  # sent under the lock
            assert private.process is not None
            os.kill(private.process.pid, signal.SIGSTOP)
            try:  # three failed extensions (1 s of stall or more): the lock's lifetime is over
                wait_until("the keeper to fail three times", lambda: warnings("could not be extended") >= 3, timeout=60)
            finally:
                os.kill(private.process.pid, signal.SIGCONT)
            wait_until(
                "the keeper to see the loss",
                lambda: warnings("expired while EVE SSO was still answering") == 1,
                timeout=60,
            )
            fake_sso.gate.set()
            outcome = refreshing.exception(timeout=60) or refreshing.result()
        stored = Token.objects.filter(pk=token.pk).values().first()
        assert fake_sso.requests == 1
        if answer == "rotated":
            assert outcome == stored["access_token"] != before["access_token"]
            assert stored["refresh_token"] == "rotated-by-sso"
        else:
            assert isinstance(outcome, SSOUnavailable) and "after its lock expired" in str(outcome)
            assert stored == before  # kept, not deleted: another refresh may hold its successor
    finally:
        private.stop()
        settings.ESI_REDIS_URL = shared
        reset_redis()


def _valid_access_token(pk: int) -> str:
    try:
        return Token.objects.get(pk=pk).valid_access_token()
    finally:
        connection.close()
