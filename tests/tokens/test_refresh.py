"""Token refresh at SSO: once for all workers, rotation saved, dead tokens removed, SSO trouble survived."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone

from esi.exceptions import NotRefreshableError, SSOUnavailable, TokenInvalidError
from esi.models import Token
from esi.signals import token_invalidated, token_refreshed
from esi.sso import verify_access_token
from tests.sso.fixtures import ASSETS, WALLET, assert_no_secret, log_lines

ROOT = Path(__file__).resolve().parents[2]


def refreshes(sim) -> int:
    return sim.stats()["sso"].get("token_refresh_token", 0)


@pytest.fixture
def signals():
    seen: dict[str, list[dict]] = {"refreshed": [], "invalidated": []}

    def on_refreshed(**kw):
        seen["refreshed"].append(kw)

    def on_invalidated(**kw):
        seen["invalidated"].append(kw)

    token_refreshed.connect(on_refreshed, dispatch_uid="test-refreshed")
    token_invalidated.connect(on_invalidated, dispatch_uid="test-invalidated")
    yield seen
    token_refreshed.disconnect(dispatch_uid="test-refreshed")
    token_invalidated.disconnect(dispatch_uid="test-invalidated")


@pytest.mark.django_db
def test_fresh_token_is_not_refreshed(sso, make_token) -> None:
    token = make_token()
    assert token.valid_access_token() == token.access_token
    assert refreshes(sso) == 0


@pytest.mark.django_db
def test_refresh_within_the_margin_rotates_and_signals(sso, make_token, signals, settings) -> None:
    settings.ESI_TOKEN_REFRESH_MARGIN = 120
    token = make_token(expires_in=100)  # expires within the margin
    old_access, old_refresh = token.access_token, token.refresh_token
    access = token.valid_access_token()
    assert access != old_access and verify_access_token(access).character_id == 90000001
    stored = Token.objects.get(pk=token.pk)
    assert stored.access_token == access and stored.refresh_token != old_refresh  # rotated, saved
    assert stored.access_token_expires > timezone.now() + dt.timedelta(minutes=15)
    assert refreshes(sso) == 1
    assert signals["refreshed"][0]["token"].pk == token.pk and signals["refreshed"][0]["rotated"] is True
    # the old refresh token is dead at SSO; the stored one works
    assert sso.stats()["sso"].get("token_error_invalid_grant", 0) == 0
    stored.refresh()
    assert refreshes(sso) == 2


@pytest.mark.django_db
def test_refresh_keeps_scopes_user_and_owner(sso, make_token, django_user_model) -> None:
    user = django_user_model.objects.create_user("pilot")
    token = make_token(scopes=[ASSETS, WALLET], user=user, expired=True)
    token.valid_access_token()
    stored = Token.objects.get(pk=token.pk)
    assert stored.user == user and stored.scope_names == [ASSETS, WALLET]
    assert stored.character_owner_hash == "owner-hash-one"


@pytest.mark.django_db
def test_invalid_grant_deletes_the_token(sso, make_token, signals, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    token = make_token(expired=True)
    secret = token.refresh_token
    sso.revoke_refresh_token(secret)
    with pytest.raises(TokenInvalidError, match="log in again") as info:
        token.valid_access_token()
    assert secret not in str(info.value)
    assert not Token.objects.filter(pk=token.pk).exists()
    event = signals["invalidated"][0]
    assert event["reason"] == "invalid_grant" and event["token_id"] is not None and event["character_id"] == 90000001
    assert_no_secret(log_lines(caplog), secret, token.access_token)


@pytest.mark.django_db
def test_owner_change_seen_at_refresh_removes_old_owner_tokens(sso, make_token, signals) -> None:
    token = make_token(expired=True)
    other = make_token(scopes=[WALLET])
    new_hash = sso.change_owner(90000001)  # SSO: every refresh token of the character dies...
    sso.accept_refresh_token(token.refresh_token, 90000001, [ASSETS])  # ...but say one still works
    with pytest.raises(TokenInvalidError, match="another EVE account"):
        token.valid_access_token()
    assert not Token.objects.filter(character_id=90000001).exists()
    assert {e["reason"] for e in signals["invalidated"]} == {"owner_changed"}
    assert {e["token_id"] for e in signals["invalidated"]} == {token.pk, other.pk}
    assert new_hash != "owner-hash-one"


@pytest.mark.django_db
def test_token_without_refresh_token(sso, make_token) -> None:
    token = make_token(expired=True)
    Token.objects.filter(pk=token.pk).update(refresh_token=None)
    token.refresh_from_db()
    assert token.can_refresh is False
    with pytest.raises(NotRefreshableError, match="no refresh token"):
        token.valid_access_token()
    with pytest.raises(NotRefreshableError):
        token.refresh()
    assert Token.objects.filter(pk=token.pk).exists() and refreshes(sso) == 0


@pytest.mark.django_db
def test_sso_errors_are_not_resent_and_leave_the_token_untouched(sso, make_token, settings) -> None:
    token = make_token(expired=True)
    before = Token.objects.filter(pk=token.pk).values().get()
    sso.configure_route("SsoToken", status=503)
    with pytest.raises(SSOUnavailable, match="not sent again") as info:
        token.valid_access_token()
    assert token.refresh_token not in str(info.value)
    assert Token.objects.filter(pk=token.pk).values().get() == before


@pytest.mark.django_db
def test_sso_timeout_leaves_the_token_untouched(sso, make_token, settings) -> None:
    token = make_token(expired=True)
    before = Token.objects.filter(pk=token.pk).values().get()
    settings.ESI_REQUESTS_READ_TIMEOUT = 0.1
    settings.ESI_SERVER_ERROR_MAX_RETRIES = 1
    sso.configure_route("SsoToken", latency=0.4)
    with pytest.raises(SSOUnavailable, match="timeout"):
        token.valid_access_token()
    assert Token.objects.filter(pk=token.pk).values().get() == before
    time.sleep(1.0)  # let the simulator finish the abandoned requests before the next test resets it


@pytest.mark.django_db
def test_sso_recovering_during_the_backoff(sso, make_token) -> None:
    token = make_token(expired=True)
    sso.configure_route("SsoToken", status=429, retry_after=0)  # refused unread: safe to send again

    class Heal(logging.Handler):  # SSO comes back while we wait for the retry
        def emit(self, record: logging.LogRecord) -> None:
            if "retry" in record.getMessage():
                sso.configure_route("SsoToken", status=None)

    handler = Heal()
    logging.getLogger("esi.sso._http").addHandler(handler)
    try:
        access = token.valid_access_token()
    finally:
        logging.getLogger("esi.sso._http").removeHandler(handler)
    assert verify_access_token(access).character_id == 90000001 and refreshes(sso) == 1


@pytest.mark.django_db
def test_long_retry_after_gives_up_at_once(sso, make_token) -> None:
    token = make_token(expired=True)
    sso.configure_route("SsoToken", status=429, retry_after=120)
    with pytest.raises(SSOUnavailable, match="120"):
        token.valid_access_token()


@pytest.mark.django_db
def test_revoke(sso, make_token, signals) -> None:
    token = make_token()
    refresh = token.refresh_token
    token.revoke()
    assert not Token.objects.filter(character_id=90000001).exists()
    assert sso.stats()["sso"]["revoke"] == 1
    assert sso.revoke_refresh_token(refresh) is False  # already dead at SSO
    assert signals["invalidated"][0]["reason"] == "revoked"


@pytest.mark.django_db(transaction=True)
def test_fifty_threads_one_refresh(sso, make_token) -> None:
    token = make_token(expired=True)
    barrier = threading.Barrier(50)

    def work(_: int) -> str:
        mine = Token.objects.get(pk=token.pk)  # each thread: its own row copy and DB connection
        barrier.wait()
        try:
            return mine.valid_access_token()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(work, range(50)))
    assert refreshes(sso) == 1
    assert len(set(results)) == 1
    assert verify_access_token(results[0]).character_id == 90000001
    assert Token.objects.get(pk=token.pk).access_token == results[0]


def worker_database_url() -> str:
    """The URL of the test database, for worker processes (SQLite file or PostgreSQL)."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


WORKER = r"""
import json, os, sys, threading, django
django.setup()
from django.conf import settings
from django.db import connection
settings.ESI_SSO_BASE_URL = os.environ["SIM_URL"]
from esi.models import Token
barrier = threading.Barrier(5)
out = []
def work():
    token = Token.objects.get(pk=int(os.environ["TOKEN_ID"]))
    barrier.wait()
    out.append(token.valid_access_token())
    connection.close()
threads = [threading.Thread(target=work) for _ in range(5)]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps(out))
"""


@pytest.mark.django_db(transaction=True)
def test_processes_and_threads_one_refresh(sso, make_token) -> None:
    token = make_token(expired=True)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": worker_database_url(),
        "PYTHONPATH": str(ROOT),
        "SIM_URL": sso.url,
        "TOKEN_ID": str(token.pk),
        "ESI_TEST_REDIS_URL": django_settings.ESI_REDIS_URL,
    }
    procs = [
        subprocess.Popen([sys.executable, "-c", WORKER], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    results = []
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0
        results += json.loads(out)
    assert len(results) == 20 and len(set(results)) == 1
    assert refreshes(sso) == 1
    assert verify_access_token(results[0]).character_id == 90000001


@pytest.mark.django_db
def test_token_without_refresh_token_is_used_until_it_expires(sso, make_token, settings) -> None:
    settings.ESI_TOKEN_REFRESH_MARGIN = 300
    token = make_token(expires_in=120)
    Token.objects.filter(pk=token.pk).update(refresh_token=None)
    token.refresh_from_db()
    assert token.needs_refresh and not token.expired
    assert token.valid_access_token() == token.access_token
    with pytest.raises(NotRefreshableError, match="expires at"):
        token.refresh()


@pytest.mark.django_db
def test_refresh_while_sso_keys_are_unreachable_keeps_the_rotated_token(sso, make_token) -> None:
    from esi.sso import clear_key_cache

    token = make_token(expired=True)
    old_refresh = token.refresh_token
    clear_key_cache()
    sso.configure_route("SsoJwks", status=503)
    access = token.valid_access_token()  # stored unverified: it came from SSO's token endpoint
    stored = Token.objects.get(pk=token.pk)
    assert stored.access_token == access and stored.refresh_token != old_refresh
    assert stored.access_token_expires > timezone.now() + dt.timedelta(minutes=15)
    sso.configure_route("SsoJwks", status=None)
    stored.refresh()  # the rotated refresh token was kept: SSO accepts it
    assert refreshes(sso) == 2


@pytest.mark.django_db
def test_refresh_with_a_token_that_fails_verification_keeps_the_rotated_refresh_token(sso, make_token) -> None:
    import json

    from joserfc.jwk import RSAKey

    from esi.exceptions import JWTValidationError
    from esi.redis_pool import get_redis
    from esi.sso import clear_key_cache
    from esi.sso._metadata import cache_key

    token = make_token(expired=True)
    old_access, old_refresh = token.access_token, token.refresh_token
    impostor = RSAKey.generate_key(2048, parameters={"kid": "JWT-Signature-Key", "alg": "RS256"})
    get_redis().set(cache_key("jwks"), json.dumps({"keys": [impostor.as_dict(private=False)]}))
    get_redis().set(cache_key("jwks-refetch"), 1, ex=60)  # fetched again just now: not again
    with pytest.raises(JWTValidationError, match="signature"):
        token.valid_access_token()
    stored = Token.objects.get(pk=token.pk)
    assert stored.access_token == old_access  # the unverified access token was not stored...
    assert stored.refresh_token != old_refresh  # ...but the rotated refresh token was
    clear_key_cache()
    assert verify_access_token(stored.valid_access_token()).character_id == 90000001


@pytest.mark.django_db
def test_sso_unreachable_leaves_the_token_untouched(sso, make_token, settings) -> None:
    token = make_token(expired=True)
    before = Token.objects.filter(pk=token.pk).values().get()
    settings.ESI_SSO_BASE_URL = "http://127.0.0.1:9"  # nothing listens there
    with pytest.raises(SSOUnavailable, match="connection error"):
        token.valid_access_token()
    assert Token.objects.filter(pk=token.pk).values().get() == before


def test_importing_esi_sso_does_not_need_the_app_registry() -> None:
    code = "import esi.sso, esi.signals, esi.managers; print('ok')"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "ok", out.stderr
