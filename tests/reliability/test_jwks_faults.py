"""Key-set fetches stay bounded: unknown kids cannot make us hammer SSO, a slow SSO cannot hold a
caller for long, and a Redis that does not answer is worked around."""

from __future__ import annotations

import time
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from esi.exceptions import JWTValidationError, SSOUnavailable
from esi.redis_pool import reset_redis
from esi.sso import _jwt as jwt_module
from esi.sso import clear_key_cache, verify_access_token
from tests.chaos.redis_server import free_port

ASSETS = "esi-assets.read_assets.v1"


def jwks_fetches(sim: Any) -> int:
    return sim.stats()["sso"].get("jwks", 0)


def _forged(sso: Any, kid: str | None) -> str:
    key = RSAKey.generate_key(2048, parameters={"kid": kid or "x", "alg": "RS256"})
    claims = {
        "sub": "CHARACTER:EVE:90000001",
        "iss": sso.url,
        "aud": ["test-client-id", "EVE Online"],
        "exp": int(time.time()) + 600,
        "owner": "x",
        "name": "x",
    }
    header = {"alg": "RS256", **({"kid": kid} if kid else {})}
    return jwt.encode(header, claims, key)


def test_unknown_or_missing_kids_fetch_the_key_set_at_most_once(sso) -> None:
    verify_access_token(sso.issue_tokens(90000001, [ASSETS])["access_token"])
    before = jwks_fetches(sso)
    for n in range(20):
        with pytest.raises(JWTValidationError, match="does not publish"):
            verify_access_token(_forged(sso, f"forged-{n}" if n % 2 else None))
    assert jwks_fetches(sso) == before + 1  # before: 20 fetches, one per forged token


def test_one_key_set_fetch_against_a_slow_sso_is_bounded(sso, settings, monkeypatch) -> None:
    clear_key_cache()
    settings.ESI_REQUESTS_READ_TIMEOUT = 0.3
    settings.ESI_SERVER_ERROR_MAX_RETRIES = 3
    settings.ESI_SERVER_ERROR_WAIT_EXPONENT = 0.01
    monkeypatch.setattr(jwt_module, "JWKS_FETCH_DEADLINE", 0.5)
    sso.configure_route("SsoJwks", latency=0.6)
    with pytest.raises(SSOUnavailable, match="2 attempt"):  # not 4: no retry starts after the deadline
        verify_access_token(sso.issue_tokens(90000001, [ASSETS])["access_token"])
    time.sleep(1.0)  # let the simulator finish the abandoned requests


def test_keys_are_verified_when_redis_does_not_answer(sso, settings) -> None:
    token = sso.issue_tokens(90000001, [ASSETS])["access_token"]
    assert verify_access_token(token).character_id == 90000001  # this process saw the keys
    settings.ESI_REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    settings.ESI_REDIS_RETRIES = 0
    reset_redis()
    before = jwks_fetches(sso)
    assert verify_access_token(token).character_id == 90000001  # before: raw redis ConnectionError
    assert jwks_fetches(sso) == before
    jwt_module._last_raw.clear()  # a process that never saw them fetches them from SSO
    assert verify_access_token(token).character_id == 90000001
    assert jwks_fetches(sso) == before + 1
