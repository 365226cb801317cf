"""The EVE SSO v2 side: characters, signing keys, codes, refresh tokens and the OAuth endpoints.

Handlers return ``(status, headers, body)``; the ASGI app does the I/O. PKCE and JOSE come from
authlib/joserfc; this module only says what EVE's SSO does with them.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, RSAKey

__all__ = ["DEFAULT_CHARACTERS", "Character", "Sso", "SsoError"]

Response = tuple[int, list[tuple[bytes, bytes]], bytes]
DEFAULT_CHARACTERS = (
    (90000001, "Harness Pilot One", "owner-hash-one", 98000001),
    (90000002, "Harness Pilot Two", "owner-hash-two", 98000001),
    (90000003, "Harness Pilot Three", "owner-hash-three", 98000002),
)
_DEAD_REFRESH = "Invalid refresh token. Token missing/expired."
_JSON = [(b"content-type", b"application/json; charset=utf-8")]
_KID = "JWT-Signature-Key"
_CODE_LIFETIME = 300.0


class SsoError(Exception):
    """An OAuth error answer: ``error`` code, description and HTTP status."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


@dataclass
class Character:
    character_id: int
    name: str
    owner_hash: str
    corporation_id: int
    roles: list[str] | None = None  # in-game corporation roles; None: every role


@dataclass
class _Code:
    client_id: str
    character_id: int
    scopes: list[str]
    redirect_uri: str
    challenge: str | None
    expires: float


@dataclass
class _Grant:
    character_id: int
    scopes: list[str]
    client_id: str | None
    owner_hash: str


def _json(status: int, payload: Any, extra: list[tuple[bytes, bytes]] | None = None) -> Response:
    return status, _JSON + (extra or []), json.dumps(payload).encode()


def _basic(headers: dict[bytes, bytes]) -> tuple[str, str] | None:
    value = headers.get(b"authorization", b"").decode("latin-1")
    if not value.lower().startswith("basic "):
        return None
    try:
        client_id, _, secret = base64.b64decode(value[6:].strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise SsoError("invalid_client", "Malformed HTTP Basic authorization header.", 401) from None
    return client_id, secret


class Sso:
    """All SSO state of one simulator; :meth:`reset` returns it to the defaults."""

    def __init__(self, issuer: str, known_scopes: set[str]) -> None:
        self.issuer = issuer
        self.known_scopes = known_scopes
        self.counters: Counter[str] = Counter()
        self._keys: list[tuple[str, str, Any]] = []
        self.reset()

    # --- state ---------------------------------------------------------------------------
    def reset(self) -> None:
        self.characters = {c[0]: Character(*c) for c in DEFAULT_CHARACTERS}
        self.login: tuple[int, list[str] | None] = (DEFAULT_CHARACTERS[0][0], None)
        self.client: tuple[str, str, str | None] | None = None
        self.codes: dict[str, _Code] = {}
        self.grants: dict[str, _Grant] = {}
        self.counters.clear()
        self._verified: dict[str, dict[str, Any]] = {}
        if len(self._keys) != 1 or self._keys[0][0] != _KID:
            self._keys = [(_KID, "RS256", RSAKey.generate_key(2048, parameters={"kid": _KID, "alg": "RS256"}))]
        self._keyset = KeySet([k for _, _, k in self._keys])
        self._jwks = json.dumps(self._keyset.as_dict(private=False)).encode()

    def add_character(
        self, character_id: int, name: str | None, owner_hash: str | None, corporation_id: int | None
    ) -> Character:
        char = Character(
            int(character_id),
            name or f"Simulated Pilot {character_id}",
            owner_hash or f"owner-{character_id}-{secrets.token_hex(4)}",
            int(corporation_id or 98000001),
        )
        self.characters[char.character_id] = char
        return char

    def character(self, character_id: int) -> Character:
        char = self.characters.get(int(character_id))
        if char is None:
            raise SsoError("invalid_request", f"Unknown character {character_id}: add it with add_character().")
        return char

    def change_owner(self, character_id: int) -> str:
        """A new owner hash; every refresh token of the character dies (as when it is sold)."""
        char = self.character(character_id)
        char.owner_hash = f"owner-{character_id}-{secrets.token_hex(6)}"
        for token in [t for t, g in self.grants.items() if g.character_id == char.character_id]:
            del self.grants[token]
        return char.owner_hash

    def rotate_signing_key(self, alg: str = "RS256", keep_old: bool = True) -> str:
        """Sign from now on with a new key; old keys stay in the JWKS unless ``keep_old`` is false."""
        kid = f"{_KID}-{len(self._keys) + 1}-{secrets.token_hex(3)}"
        if alg == "RS256":
            key: Any = RSAKey.generate_key(2048, parameters={"kid": kid, "alg": alg})
        elif alg == "ES256":
            key = ECKey.generate_key("P-256", parameters={"kid": kid, "alg": alg})
        else:
            raise SsoError("invalid_request", f"Unsupported key algorithm {alg!r}: use RS256 or ES256.")
        self._keys = [*self._keys, (kid, alg, key)] if keep_old else [(kid, alg, key)]
        self._keyset = KeySet([k for _, _, k in self._keys])
        self._jwks = json.dumps(self._keyset.as_dict(private=False)).encode()
        self._verified.clear()
        return kid

    # --- tokens --------------------------------------------------------------------------
    def access_token(self, char: Character, scopes: list[str], client_id: str, expires_in: int) -> str:
        kid, alg, key = self._keys[-1]
        now = int(time.time())
        claims: dict[str, Any] = {
            "jti": str(uuid.uuid4()),
            "kid": kid,
            "sub": f"CHARACTER:EVE:{char.character_id}",
            "azp": client_id,
            "tenant": "tranquility",
            "tier": "live",
            "region": "world",
            "aud": [client_id, "EVE Online"],
            "name": char.name,
            "owner": char.owner_hash,
            "exp": now + int(expires_in),
            "iat": now,
            "iss": self.issuer,
        }
        if scopes:
            claims["scp"] = scopes[0] if len(scopes) == 1 else list(scopes)
        return jwt.encode({"alg": alg, "kid": kid, "typ": "JWT"}, claims, key)

    def issue(
        self, character_id: int, scopes: list[str], client_id: str | None, expires_in: int = 1199
    ) -> dict[str, Any]:
        """Access + refresh token for a character, as the token endpoint answers."""
        char = self.character(character_id)
        refresh = None
        if scopes:
            refresh = secrets.token_urlsafe(24)
            self.grants[refresh] = _Grant(char.character_id, list(scopes), client_id, char.owner_hash)
        return {
            "access_token": self.access_token(char, list(scopes), client_id or self.default_client_id(), expires_in),
            "expires_in": int(expires_in),
            "token_type": "Bearer",
            "refresh_token": refresh,
        }

    def accept_refresh_token(self, token: str, character_id: int, scopes: list[str]) -> None:
        char = self.character(character_id)
        self.grants[token] = _Grant(char.character_id, list(scopes), None, char.owner_hash)

    def revoke(self, token: str) -> bool:
        return self.grants.pop(token, None) is not None

    def default_client_id(self) -> str:
        return self.client[0] if self.client else "esi-simulator-client"

    def verify(self, token: str) -> dict[str, Any]:
        """Claims of a valid access token, or SsoError("invalid_token", why, 401)."""
        claims = self._verified.get(token)
        if claims is None:
            try:
                claims = dict(jwt.decode(token, self._keyset, algorithms=["RS256", "ES256"]).claims)
            except (JoseError, ValueError) as exc:
                raise SsoError("invalid_token", f"Token is not valid: {type(exc).__name__}.", 401) from None
            if claims.get("iss") != self.issuer or "EVE Online" not in claims.get("aud", []):
                raise SsoError("invalid_token", "Token was not issued by this SSO.", 401)
            if len(self._verified) > 20000:
                self._verified.clear()
            self._verified[token] = claims
        if claims.get("exp", 0) <= time.time():
            raise SsoError("invalid_token", "Token is expired.", 401)
        return claims

    # --- HTTP endpoints ------------------------------------------------------------------
    def metadata(self) -> Response:
        base = self.issuer
        return _json(
            200,
            {
                "issuer": base,
                "authorization_endpoint": f"{base}/v2/oauth/authorize",
                "token_endpoint": f"{base}/v2/oauth/token",
                "response_types_supported": ["code", "token"],
                "jwks_uri": f"{base}/oauth/jwks",
                "revocation_endpoint": f"{base}/v2/oauth/revoke",
                "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                "token_endpoint_auth_signing_alg_values_supported": ["HS256"],
                "code_challenge_methods_supported": ["S256"],
            },
        )

    def jwks(self) -> Response:
        self.counters["jwks"] += 1
        return 200, _JSON, self._jwks

    def authorize(self, query: dict[str, str]) -> Response:
        self.counters["authorize"] += 1
        try:
            location = self._authorize(query)
        except SsoError as exc:
            return _json(exc.status, {"error": exc.error, "error_description": exc.description})
        return 302, [(b"location", location.encode())], b""

    def _authorize(self, q: dict[str, str]) -> str:
        if q.get("response_type") != "code":
            raise SsoError("unsupported_response_type", "response_type must be 'code'.")
        client_id, redirect_uri, state = q.get("client_id"), q.get("redirect_uri"), q.get("state")
        if not client_id or not redirect_uri:
            raise SsoError("invalid_request", "client_id and redirect_uri are required.")
        if not state:
            raise SsoError("invalid_request", "state is required by EVE SSO.")
        if self.client:
            if client_id != self.client[0]:
                raise SsoError("invalid_client", f"Unknown client_id {client_id!r}.", 400)
            if self.client[2] and redirect_uri != self.client[2]:
                raise SsoError("invalid_request", "redirect_uri does not match the registered callback URL.")
        challenge, method = q.get("code_challenge"), q.get("code_challenge_method")
        if challenge and method != "S256":
            raise SsoError("invalid_request", "Only the S256 code_challenge_method is supported.")
        requested = q.get("scope", "").split()
        unknown = [s for s in requested if s not in self.known_scopes]
        if unknown:
            raise SsoError("invalid_scope", f"Unknown scope(s): {' '.join(unknown)}.")
        character_id, login_scopes = self.login
        self.character(character_id)
        code = secrets.token_urlsafe(16)
        granted = requested if login_scopes is None else list(login_scopes)
        self.codes[code] = _Code(
            client_id, character_id, granted, redirect_uri, challenge, time.monotonic() + _CODE_LIFETIME
        )
        sep = "&" if "?" in redirect_uri else "?"
        return f"{redirect_uri}{sep}{urlencode({'code': code, 'state': state})}"

    def token(self, headers: dict[bytes, bytes], form: dict[str, str]) -> Response:
        grant_type = form.get("grant_type", "")
        self.counters[f"token_{grant_type or 'missing'}"] += 1
        try:
            payload = self._token(headers, form, grant_type)
        except SsoError as exc:
            self.counters[f"token_error_{exc.error}"] += 1
            return _json(exc.status, {"error": exc.error, "error_description": exc.description})
        return _json(200, payload)

    def _client(self, headers: dict[bytes, bytes], form: dict[str, str]) -> tuple[str, bool]:
        """-> (client_id, authenticated with a secret)."""
        basic = _basic(headers)
        if basic is None and form.get("client_secret"):
            basic = (form.get("client_id", ""), form["client_secret"])
        if basic is not None:
            if self.client and (basic[0] != self.client[0] or not secrets.compare_digest(basic[1], self.client[1])):
                raise SsoError("invalid_client", "Client authentication failed: wrong client_id or secret.", 401)
            return basic[0], True
        client_id = form.get("client_id")
        if not client_id:
            raise SsoError("invalid_client", "No client authentication: use HTTP Basic or send client_id.", 401)
        if self.client and client_id != self.client[0]:
            raise SsoError("invalid_client", f"Unknown client_id {client_id!r}.", 401)
        return client_id, False

    def _token(self, headers: dict[bytes, bytes], form: dict[str, str], grant_type: str) -> dict[str, Any]:
        if grant_type not in ("authorization_code", "refresh_token"):
            raise SsoError("unsupported_grant_type", f"grant_type {grant_type!r} is not supported.")
        client_id, confidential = self._client(headers, form)
        if grant_type == "authorization_code":
            code = self.codes.pop(form.get("code", ""), None)
            if code is None or code.expires < time.monotonic():
                raise SsoError("invalid_grant", "Authorization code is unknown, expired or already used.")
            if code.client_id != client_id:
                raise SsoError("invalid_grant", "Authorization code was issued to another client.")
            if form.get("redirect_uri") and form["redirect_uri"] != code.redirect_uri:
                raise SsoError("invalid_grant", "redirect_uri differs from the one of the authorize request.")
            verifier = form.get("code_verifier")
            if code.challenge is not None:
                if not verifier or not secrets.compare_digest(create_s256_code_challenge(verifier), code.challenge):
                    raise SsoError("invalid_grant", "PKCE verification failed: code_verifier does not match.")
            elif not confidential:
                raise SsoError("invalid_request", "Public clients must use PKCE (code_challenge + code_verifier).")
            return self.issue(code.character_id, code.scopes, client_id)
        token = form.get("refresh_token", "")
        grant = self.grants.get(token)
        if grant is None:
            raise SsoError("invalid_grant", _DEAD_REFRESH)
        if grant.client_id is not None and grant.client_id != client_id:
            raise SsoError("invalid_grant", _DEAD_REFRESH)
        char = self.characters.get(grant.character_id)
        if char is None or char.owner_hash != grant.owner_hash:
            del self.grants[token]
            raise SsoError("invalid_grant", _DEAD_REFRESH)
        del self.grants[token]  # rotation: the old refresh token is dead from now on
        return self.issue(grant.character_id, grant.scopes, client_id)

    def revoke_endpoint(self, headers: dict[bytes, bytes], form: dict[str, str]) -> Response:
        self.counters["revoke"] += 1
        try:
            self._client(headers, form)
        except SsoError as exc:
            return _json(exc.status, {"error": exc.error, "error_description": exc.description})
        self.revoke(form.get("token", ""))
        return 200, _JSON, b""
