"""Access-token verification against the simulator's SSO: keys, rotation, and every claim."""

from __future__ import annotations

import base64
import json
import time
from urllib.parse import urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

from esi.exceptions import JWTValidationError
from esi.redis_pool import get_redis
from esi.sso import accepted_issuers, verify_access_token
from esi.sso._metadata import cache_key
from tests.sso.fixtures import ASSETS, WALLET

pytestmark = pytest.mark.usefixtures("sso")


def jwks_fetches(sim) -> int:
    return sim.stats()["sso"].get("jwks", 0)


def test_valid_token_gives_character_owner_and_scopes(sso) -> None:
    token = sso.issue_tokens(90000001, [ASSETS, WALLET])["access_token"]
    claims = verify_access_token(token)
    assert claims.character_id == 90000001
    assert claims.character_name == "Harness Pilot One"
    assert claims.owner_hash == "owner-hash-one"
    assert claims.scopes == (ASSETS, WALLET)
    assert abs(claims.expires.timestamp() - (time.time() + 1199)) < 30
    assert token not in repr(claims)


def test_scope_claim_as_a_bare_string_and_absent(sso) -> None:
    assert verify_access_token(sso.issue_tokens(90000001, [ASSETS])["access_token"]).scopes == (ASSETS,)
    assert verify_access_token(sso.issue_tokens(90000002, [])["access_token"]).scopes == ()


def test_keys_are_cached_in_redis(sso, settings) -> None:
    settings.ESI_JWKS_CACHE_TIMEOUT = 120
    for _ in range(3):
        verify_access_token(sso.issue_tokens(90000001, [ASSETS])["access_token"])
    assert jwks_fetches(sso) == 1
    ttl = get_redis().ttl(cache_key("jwks"))
    assert 0 < ttl <= 120


def test_issuer_in_both_eve_forms(sso) -> None:
    host = urlsplit(sso.url).netloc
    assert accepted_issuers() == [sso.url, host]


def test_real_sso_issuers(settings) -> None:
    settings.ESI_SSO_BASE_URL = "https://login.eveonline.com/"
    assert accepted_issuers() == ["https://login.eveonline.com", "login.eveonline.com"]


def test_unknown_kid_refetches_once_after_key_rotation(sso) -> None:
    verify_access_token(sso.issue_tokens(90000001, [ASSETS])["access_token"])
    assert jwks_fetches(sso) == 1
    sso.rotate_signing_key("RS256")
    new = sso.issue_tokens(90000001, [ASSETS])["access_token"]
    assert verify_access_token(new).character_id == 90000001
    assert jwks_fetches(sso) == 2
    verify_access_token(sso.issue_tokens(90000001, [ASSETS])["access_token"])
    assert jwks_fetches(sso) == 2  # the new key is cached now


def test_es256_key_is_selected_by_kid_and_alg(sso) -> None:
    kid = sso.rotate_signing_key("ES256")
    token = sso.issue_tokens(90000003, [ASSETS])["access_token"]
    assert json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))["kid"] == kid
    assert verify_access_token(token).character_id == 90000003


def test_retired_key_is_refused_after_one_refetch(sso) -> None:
    old = sso.issue_tokens(90000001, [ASSETS])["access_token"]
    sso.rotate_signing_key("RS256", keep_old=False)
    verify_access_token(sso.issue_tokens(90000001, [ASSETS])["access_token"])
    before = jwks_fetches(sso)
    with pytest.raises(JWTValidationError, match="does not publish"):
        verify_access_token(old)
    assert jwks_fetches(sso) == before + 1


def test_bad_signature(sso) -> None:
    token = sso.issue_tokens(90000001, [ASSETS])["access_token"]
    header, payload, signature = token.split(".")
    forged_payload = jwt.encode({"alg": "HS256"}, {"sub": "CHARACTER:EVE:90000002"}, OctKey.generate_key(256)).split(
        "."
    )[1]
    for forged in (f"{header}.{forged_payload}.{signature}", f"{header}.{payload}.{signature[:-6]}AAAAAA"):
        with pytest.raises(JWTValidationError, match="signature") as info:
            verify_access_token(forged)
        assert token not in str(info.value) and signature not in str(info.value)


def _signed_by_a_stranger(sso) -> str:
    """A token with valid claims and SSO's kid, signed by a key SSO never published."""
    stranger = RSAKey.generate_key(2048, parameters={"kid": "JWT-Signature-Key", "alg": "RS256"})
    claims = {
        "sub": "CHARACTER:EVE:90000001",
        "iss": sso.url,
        "aud": ["test-client-id", "EVE Online"],
        "exp": int(time.time()) + 600,
        "owner": "x",
        "name": "x",
    }
    return jwt.encode({"alg": "RS256", "kid": "JWT-Signature-Key"}, claims, stranger)


def test_token_signed_by_a_stranger_with_the_right_kid(sso) -> None:
    with pytest.raises(JWTValidationError, match="signature"):
        verify_access_token(_signed_by_a_stranger(sso))


def test_symmetric_or_unsigned_algorithms_are_refused(sso) -> None:
    forged = jwt.encode({"alg": "HS256", "kid": "JWT-Signature-Key"}, {"sub": "x"}, OctKey.generate_key(256))
    with pytest.raises(JWTValidationError, match="HS256"):
        verify_access_token(forged)


@pytest.mark.parametrize("value", ["", "not-a-jwt", "a.b.c", "äöü.x.y"])
def test_garbage(value: str) -> None:
    with pytest.raises(JWTValidationError):
        verify_access_token(value)


def test_wrong_audience(sso) -> None:
    token = sso.issue_tokens(90000001, [ASSETS], client_id="some-other-app")["access_token"]
    with pytest.raises(JWTValidationError, match="test-client-id") as info:
        verify_access_token(token)
    assert "ESI_SSO_CLIENT_ID" in str(info.value)


def test_wrong_issuer(sso, settings) -> None:
    # The same SSO reached under another name: its tokens name another issuer.
    port = urlsplit(sso.url).port
    settings.ESI_SSO_BASE_URL = f"http://localhost:{port}"
    token = sso.issue_tokens(90000001, [ASSETS])["access_token"]
    with pytest.raises(JWTValidationError, match="'iss'"):
        verify_access_token(token)


def test_expired(sso) -> None:
    token = sso.issue_tokens(90000001, [ASSETS], expires_in=-60)["access_token"]
    with pytest.raises(JWTValidationError, match="expired"):
        verify_access_token(token)


def test_small_clock_skew_is_tolerated(sso) -> None:
    token = sso.issue_tokens(90000001, [ASSETS], expires_in=-3)["access_token"]
    assert verify_access_token(token).character_id == 90000001


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"sub": "CORPORATION:EVE:98000001"}, "not an EVE character"),
        ({"owner": None}, "owner hash"),
        ({"exp": None}, "exp"),
        ({"aud": "test-client-id"}, "EVE Online"),
        ({"iss": "https://login.eveonline.com.evil.example"}, "'iss'"),
    ],
)
def test_claims_eve_requires(sso, change: dict, message: str) -> None:
    # Our own key, published through the JWKS cache exactly as SSO's keys are kept there.
    key = RSAKey.generate_key(2048, parameters={"kid": "test-key", "alg": "RS256"})
    get_redis().set(cache_key("jwks"), json.dumps({"keys": [key.as_dict(private=False)]}))
    claims = {
        "sub": "CHARACTER:EVE:90000001",
        "iss": sso.url,
        "aud": ["test-client-id", "EVE Online"],
        "exp": int(time.time()) + 600,
        "owner": "owner-hash-one",
        "name": "Harness Pilot One",
        "scp": [ASSETS],
    }
    good = jwt.encode({"alg": "RS256", "kid": "test-key"}, claims, key)
    assert verify_access_token(good).owner_hash == "owner-hash-one"
    claims.update(change)
    claims = {k: v for k, v in claims.items() if v is not None}
    with pytest.raises(JWTValidationError, match=message):
        verify_access_token(jwt.encode({"alg": "RS256", "kid": "test-key"}, claims, key))


def _stale_cache_with_a_stranger_key(sso) -> None:
    """Cache a key set whose ``JWT-Signature-Key`` is not SSO's: SSO replaced its key under the same kid."""
    from esi.redis_pool import get_redis
    from esi.sso._metadata import cache_key

    stranger = RSAKey.generate_key(2048, parameters={"kid": "JWT-Signature-Key", "alg": "RS256"})
    public = stranger.as_dict(private=False)
    get_redis().set(cache_key("jwks"), json.dumps({"keys": [public]}), ex=3600)


def test_key_replaced_under_the_same_kid_is_fetched_again(sso) -> None:
    verify_access_token(sso.issue_tokens(90000001, [ASSETS])["access_token"])
    _stale_cache_with_a_stranger_key(sso)
    before = jwks_fetches(sso)
    assert verify_access_token(sso.issue_tokens(90000001, [ASSETS])["access_token"]).character_id == 90000001
    assert jwks_fetches(sso) == before + 1
    verify_access_token(sso.issue_tokens(90000001, [ASSETS])["access_token"])
    assert jwks_fetches(sso) == before + 1  # the fresh key set is cached again


def test_bad_signatures_refetch_at_most_once_a_minute(sso) -> None:
    verify_access_token(sso.issue_tokens(90000001, [ASSETS])["access_token"])
    forged = _signed_by_a_stranger(sso)
    before = jwks_fetches(sso)
    for _ in range(5):
        with pytest.raises(JWTValidationError, match="signature"):
            verify_access_token(forged)
    assert jwks_fetches(sso) == before + 1
