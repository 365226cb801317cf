"""SSO side: metadata, authorize + code exchange (Basic and PKCE), refresh rotation, revoke, JWKS, JWTs."""

from __future__ import annotations

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from esi.testing import SimulatorControl

from .conftest import ASSETS_SCOPE, authorize, bearer, code_of, pkce_pair

WALLET = "esi-wallet.read_character_wallet.v1"


def _exchange(http: httpx.Client, code: str, **form: str) -> httpx.Response:
    return http.post(
        "/v2/oauth/token",
        data={"grant_type": "authorization_code", "code": code, **form},
        auth=("app-id", "app-secret"),
    )


def _claims(http: httpx.Client, access_token: str) -> tuple[dict, dict]:
    keys = KeySet.import_key_set(http.get("/oauth/jwks").json())
    token = jwt.decode(access_token, keys, algorithms=["RS256", "ES256"])
    return dict(token.header), dict(token.claims)


def test_metadata_names_every_endpoint(http: httpx.Client, esi_sim: SimulatorControl) -> None:
    meta = http.get("/.well-known/oauth-authorization-server").json()
    assert meta["issuer"] == esi_sim.url
    assert meta["authorization_endpoint"] == esi_sim.url + "/v2/oauth/authorize"
    assert meta["token_endpoint"] == esi_sim.url + "/v2/oauth/token"
    assert meta["revocation_endpoint"] == esi_sim.url + "/v2/oauth/revoke"
    assert meta["jwks_uri"] == esi_sim.url + "/oauth/jwks"
    assert meta["code_challenge_methods_supported"] == ["S256"]


def test_login_with_basic_auth_gives_eve_like_jwt(http: httpx.Client, esi_sim: SimulatorControl) -> None:
    code = code_of(authorize(http, f"{ASSETS_SCOPE} {WALLET}"))
    r = _exchange(http, code)
    assert r.status_code == 200
    tokens = r.json()
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 1199 and tokens["refresh_token"]
    header, claims = _claims(http, tokens["access_token"])
    assert header["alg"] == "RS256" and header["kid"] == "JWT-Signature-Key"
    assert claims["sub"] == "CHARACTER:EVE:90000001"
    assert claims["name"] == "Harness Pilot One" and claims["owner"] == "owner-hash-one"
    assert claims["scp"] == [ASSETS_SCOPE, WALLET]
    assert claims["aud"] == ["app-id", "EVE Online"] and claims["iss"] == esi_sim.url
    assert claims["azp"] == "app-id" and claims["jti"]
    assert 1190 <= claims["exp"] - claims["iat"] <= 1200
    assert _exchange(http, code).json()["error"] == "invalid_grant"  # codes are single-use
    assert esi_sim.stats()["sso"]["token_authorization_code"] == 2


def test_one_scope_is_a_bare_string_and_no_scope_means_no_refresh_token(http: httpx.Client) -> None:
    tokens = _exchange(http, code_of(authorize(http, ASSETS_SCOPE))).json()
    assert _claims(http, tokens["access_token"])[1]["scp"] == ASSETS_SCOPE
    bare = _exchange(http, code_of(authorize(http, ""))).json()
    assert bare["refresh_token"] is None and "scp" not in _claims(http, bare["access_token"])[1]


def test_pkce_public_client(http: httpx.Client) -> None:
    verifier, challenge = pkce_pair()
    code = code_of(authorize(http, challenge=challenge))
    wrong = http.post(
        "/v2/oauth/token",
        data={"grant_type": "authorization_code", "code": code, "client_id": "app-id", "code_verifier": "wrong" * 10},
    )
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    code = code_of(authorize(http, challenge=challenge))
    ok = http.post(
        "/v2/oauth/token",
        data={"grant_type": "authorization_code", "code": code, "client_id": "app-id", "code_verifier": verifier},
    )
    assert ok.status_code == 200 and ok.json()["access_token"]
    code = code_of(authorize(http))  # a public client without PKCE is refused
    r = http.post("/v2/oauth/token", data={"grant_type": "authorization_code", "code": code, "client_id": "app-id"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"


def test_pkce_with_basic_auth_checks_the_verifier_too(http: httpx.Client) -> None:
    verifier, challenge = pkce_pair()
    assert _exchange(http, code_of(authorize(http, challenge=challenge))).json()["error"] == "invalid_grant"
    assert _exchange(http, code_of(authorize(http, challenge=challenge)), code_verifier=verifier).status_code == 200


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"state": ""}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "esi-not-a-scope.v1"}, "invalid_scope"),
        ({"code_challenge": "abc", "code_challenge_method": "plain"}, "invalid_request"),
    ],
)
def test_authorize_rejects_bad_requests(http: httpx.Client, params: dict, error: str) -> None:
    r = authorize(http, **params)
    assert r.status_code == 400 and r.json()["error"] == error


def test_registered_client_and_callback_are_enforced(http: httpx.Client, esi_sim: SimulatorControl) -> None:
    esi_sim.set_client("app-id", "app-secret", redirect_uri="http://app.test/callback")
    assert authorize(http, redirect_uri="http://evil.test/cb").status_code == 400
    assert authorize(http, client_id="other").status_code == 400
    code = code_of(authorize(http))
    bad = http.post(
        "/v2/oauth/token", data={"grant_type": "authorization_code", "code": code}, auth=("app-id", "s3cr3t-guess")
    )
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"
    assert "s3cr3t-guess" not in bad.text and "app-secret" not in bad.text
    assert _exchange(http, code).status_code == 200  # a failed client authentication does not burn the code
    esi_sim.set_client(None)
    assert authorize(http, client_id="anyone").status_code == 302


def test_login_character_and_scopes_are_configurable(http: httpx.Client, esi_sim: SimulatorControl) -> None:
    esi_sim.add_character(91000000, name="Alt Pilot", owner_hash="alt-owner")
    esi_sim.set_login(91000000, [WALLET])
    tokens = _exchange(http, code_of(authorize(http, ASSETS_SCOPE))).json()
    claims = _claims(http, tokens["access_token"])[1]
    assert claims["sub"] == "CHARACTER:EVE:91000000" and claims["name"] == "Alt Pilot"
    assert claims["owner"] == "alt-owner" and claims["scp"] == WALLET


def test_refresh_rotates_and_the_old_token_dies(http: httpx.Client, esi_sim: SimulatorControl) -> None:
    tokens = esi_sim.issue_tokens(90000001, [ASSETS_SCOPE])
    assert esi_sim.client_id == "test-client-id"  # the fixture issues tokens to the Django app's client
    client = (esi_sim.client_id, "s")
    form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    first = http.post("/v2/oauth/token", data=form, auth=client)
    assert first.status_code == 200
    new = first.json()
    assert new["refresh_token"] != tokens["refresh_token"] and new["access_token"] != tokens["access_token"]
    reused = http.post("/v2/oauth/token", data=form, auth=client)
    assert reused.status_code == 400
    assert reused.json() == {
        "error": "invalid_grant",
        "error_description": "Invalid refresh token. Token missing/expired.",
    }
    unknown = http.post("/v2/oauth/token", data={**form, "refresh_token": "never-issued"}, auth=client)
    assert unknown.json()["error"] == "invalid_grant"
    other_client = http.post(
        "/v2/oauth/token", data={**form, "refresh_token": new["refresh_token"]}, auth=("other-app", "s")
    )
    assert other_client.json()["error"] == "invalid_grant"
    assert http.get("/characters/90000001/assets", headers=bearer(new)).status_code == 200
    assert esi_sim.stats()["sso"]["token_refresh_token"] == 4


def test_revoke_endpoint_and_control_revocation(http: httpx.Client, esi_sim: SimulatorControl) -> None:
    tokens = esi_sim.issue_tokens(90000001, [ASSETS_SCOPE])
    r = http.post(
        "/v2/oauth/revoke",
        data={"token_type_hint": "refresh_token", "token": tokens["refresh_token"]},
        auth=("app-id", "s"),
    )
    assert r.status_code == 200
    again = http.post("/v2/oauth/revoke", data={"token": tokens["refresh_token"]}, auth=("app-id", "s"))
    assert again.status_code == 200  # always 200
    form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    assert http.post("/v2/oauth/token", data=form, auth=(esi_sim.client_id, "s")).json()["error"] == "invalid_grant"
    other = esi_sim.issue_tokens(90000001, [ASSETS_SCOPE])
    assert esi_sim.revoke_refresh_token(other["refresh_token"]) is True
    assert esi_sim.revoke_refresh_token(other["refresh_token"]) is False
    assert esi_sim.stats()["sso"]["revoke"] == 2


def test_accept_legacy_refresh_token(http: httpx.Client, esi_sim: SimulatorControl) -> None:
    esi_sim.accept_refresh_token("legacy-token-1", 90000002, [ASSETS_SCOPE])
    r = http.post(
        "/v2/oauth/token", data={"grant_type": "refresh_token", "refresh_token": "legacy-token-1"}, auth=("app-id", "s")
    )
    assert r.status_code == 200
    assert _claims(http, r.json()["access_token"])[1]["sub"] == "CHARACTER:EVE:90000002"


def test_change_owner_kills_refresh_tokens(http: httpx.Client, esi_sim: SimulatorControl) -> None:
    tokens = esi_sim.issue_tokens(90000001, [ASSETS_SCOPE])
    survivor = esi_sim.issue_tokens(90000002, [ASSETS_SCOPE])
    new_owner = esi_sim.change_owner(90000001)
    assert new_owner != "owner-hash-one"
    form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    client = (esi_sim.client_id, "s")
    assert http.post("/v2/oauth/token", data=form, auth=client).json()["error"] == "invalid_grant"
    form["refresh_token"] = survivor["refresh_token"]
    assert http.post("/v2/oauth/token", data=form, auth=client).status_code == 200
    fresh = esi_sim.issue_tokens(90000001, [ASSETS_SCOPE])
    assert _claims(http, fresh["access_token"])[1]["owner"] == new_owner


def test_signing_key_rotation(http: httpx.Client, esi_sim: SimulatorControl) -> None:
    before = esi_sim.issue_tokens(90000001, [ASSETS_SCOPE])
    kid = esi_sim.rotate_signing_key()
    kids = [k["kid"] for k in http.get("/oauth/jwks").json()["keys"]]
    assert kids == ["JWT-Signature-Key", kid]
    after = esi_sim.issue_tokens(90000001, [ASSETS_SCOPE])
    assert _claims(http, after["access_token"])[0]["kid"] == kid
    assert http.get("/characters/90000001/assets", headers=bearer(before)).status_code == 200
    es_kid = esi_sim.rotate_signing_key("ES256", keep_old=False)
    keys = http.get("/oauth/jwks").json()["keys"]
    assert [(k["kid"], k["kty"]) for k in keys] == [(es_kid, "EC")]
    es_token = esi_sim.issue_tokens(90000001, [ASSETS_SCOPE])
    assert _claims(http, es_token["access_token"])[0]["alg"] == "ES256"
    assert http.get("/characters/90000001/assets", headers=bearer(es_token)).status_code == 200
    assert http.get("/characters/90000001/assets", headers=bearer(after)).status_code == 401  # key gone
    esi_sim.reset()
    assert [k["kid"] for k in http.get("/oauth/jwks").json()["keys"]] == ["JWT-Signature-Key"]


def test_token_endpoint_errors(http: httpx.Client) -> None:
    r = http.post("/v2/oauth/token", data={"grant_type": "password"}, auth=("app-id", "s"))
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"
    r = http.post("/v2/oauth/token", data={"grant_type": "refresh_token", "refresh_token": "x"})
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    assert http.get("/v2/oauth/token").status_code == 405


def test_sso_faults(http: httpx.Client, esi_sim: SimulatorControl) -> None:
    esi_sim.configure_route("SsoToken", status=429, retry_after=7)
    r = http.post("/v2/oauth/token", data={"grant_type": "refresh_token", "refresh_token": "x"}, auth=("a", "b"))
    assert r.status_code == 429 and r.headers["retry-after"] == "7"


def test_code_exchange_checks_the_redirect_uri_and_client(http: httpx.Client) -> None:
    code = code_of(authorize(http))
    assert _exchange(http, code, redirect_uri="http://other/cb").json()["error"] == "invalid_grant"
    code = code_of(authorize(http))
    r = http.post("/v2/oauth/token", data={"grant_type": "authorization_code", "code": code}, auth=("other-app", "s"))
    assert r.json()["error"] == "invalid_grant"
    assert _exchange(http, code).json()["error"] == "invalid_grant"  # a code is spent even by a failed exchange


def test_token_endpoint_takes_forms_only(http: httpx.Client) -> None:
    r = http.post("/v2/oauth/token", json={"grant_type": "refresh_token", "refresh_token": "x"}, auth=("a", "b"))
    assert r.status_code == 400 and "form-encoded" in r.json()["error_description"]
