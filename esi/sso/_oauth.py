"""OAuth 2.0 with EVE SSO through authlib: authorize URL (state + PKCE S256), code exchange,
refresh and revoke.

authlib's httpx ``OAuth2Client`` does the protocol (Basic client authentication, PKCE challenge,
form bodies, error parsing); a light client is made per call on the process's shared SSO pool,
because an ``OAuth2Client`` remembers the last token it saw and must not be shared by threads.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.client import OAuth2Client as ProtocolClient

from esi.app_settings import esi_settings
from esi.exceptions import EsiConfigurationError, SSOError, TokenInvalidError
from esi.sso._http import http_client, raise_for_retryable, retrying
from esi.sso._metadata import get_metadata

__all__ = [
    "AuthorizationRequest",
    "TokenResponse",
    "exchange_code",
    "new_authorization",
    "refresh_access_token",
    "revoke_refresh_token",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AuthorizationRequest:
    """Where to send the browser, and the secrets to remember until SSO calls back."""

    url: str = field(repr=False)
    state: str = field(repr=False)
    code_verifier: str = field(repr=False)
    scopes: tuple[str, ...] = ()


@dataclass(frozen=True)
class TokenResponse:
    """SSO's answer from the token endpoint (secrets hidden from ``repr``)."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_in: int
    token_type: str

    @classmethod
    def from_authlib(cls, token: dict[str, Any]) -> TokenResponse:
        access = token.get("access_token")
        if not isinstance(access, str) or not access:
            raise SSOError("EVE SSO's token response has no access_token.")
        refresh = token.get("refresh_token")
        try:
            expires_in = int(token.get("expires_in") or 1199)
        except (TypeError, ValueError):
            expires_in = 1199
        return cls(
            access_token=access,
            refresh_token=refresh if isinstance(refresh, str) and refresh else None,
            expires_in=expires_in,
            token_type=str(token.get("token_type") or "Bearer"),
        )


class _HttpxClientAuth(httpx.Auth):
    """authlib's client authentication (``client_secret_basic``...) as an httpx auth flow."""

    requires_request_body = True

    def __init__(self, client_id: str, client_secret: str | None, auth_method: str | None = None) -> None:
        self._auth = ClientAuth(client_id, client_secret, auth_method)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        url, headers, body = self._auth.prepare(
            request.method, str(request.url), dict(request.headers), request.content.decode()
        )
        headers.pop("Content-Length", None)
        yield httpx.Request(request.method, url, headers=headers, content=body, extensions=request.extensions)


class SSOClient(ProtocolClient):  # type: ignore[misc]
    """authlib's framework-neutral OAuth 2.0 client, sending through our own ``httpx`` client.

    authlib's httpx integration subclasses whichever of ``httpx2``/``httpx`` it finds installed
    (``httpx2`` wherever Alliance Auth is), and then cannot use our ``httpx`` transport. Its
    protocol core takes any client as ``session`` instead: authlib still builds every request
    (Basic client authentication, PKCE, form bodies) and parses every answer, and all traffic to
    SSO goes through the one pooled ``httpx`` transport, whatever else is installed.
    """

    client_auth_class = _HttpxClientAuth
    oauth_error_class = OAuthError


def _client() -> SSOClient:
    client_id = esi_settings.ESI_SSO_CLIENT_ID
    if not client_id:
        raise EsiConfigurationError(
            "ESI_SSO_CLIENT_ID is not set; register an application at https://developers.eveonline.com "
            "and set ESI_SSO_CLIENT_ID, ESI_SSO_CLIENT_SECRET and ESI_SSO_CALLBACK_URL."
        )
    client = SSOClient(
        http_client(),
        client_id=client_id,
        client_secret=esi_settings.ESI_SSO_CLIENT_SECRET,
        token_endpoint_auth_method="client_secret_basic",
        revocation_endpoint_auth_method="client_secret_basic",
        code_challenge_method="S256",
        redirect_uri=esi_settings.ESI_SSO_CALLBACK_URL,
    )
    # 5xx and 429 are retried by ``retrying`` before authlib reads them as OAuth errors.
    client.register_compliance_hook("access_token_response", _retryable_hook)
    client.register_compliance_hook("refresh_token_response", _retryable_hook)
    return client


def _retryable_hook(response: httpx.Response) -> httpx.Response:
    raise_for_retryable(response)
    return response


def new_authorization(scopes: Iterable[str]) -> AuthorizationRequest:
    """A fresh ``state`` and PKCE verifier, and the authorize URL that carries them."""
    names = tuple(sorted(set(scopes)))
    state = generate_token(40)
    verifier = generate_token(64)
    url, _ = _client().create_authorization_url(
        get_metadata().authorization_endpoint, state=state, code_verifier=verifier, scope=" ".join(names)
    )
    return AuthorizationRequest(url=url, state=state, code_verifier=verifier, scopes=names)


def _oauth_message(exc: OAuthError) -> str:
    description = f" ({exc.description})" if getattr(exc, "description", None) else ""
    return f"{exc.error}{description}"


def _bad_credentials() -> SSOError:
    return SSOError(
        "EVE SSO refused our client credentials (invalid_client); check ESI_SSO_CLIENT_ID and ESI_SSO_CLIENT_SECRET."
    )


def exchange_code(code: str, code_verifier: str) -> TokenResponse:
    """Trade the callback's authorization code (and PKCE verifier) for tokens."""

    def call() -> dict[str, Any]:
        return dict(
            _client().fetch_token(
                get_metadata().token_endpoint,
                grant_type="authorization_code",
                code=code,
                code_verifier=code_verifier,
            )
        )

    try:
        token = retrying("code exchange", call, resend=False)  # codes are single-use
    except OAuthError as exc:
        if exc.error == "invalid_client":
            raise _bad_credentials() from None
        raise SSOError(
            f"EVE SSO refused the login code: {_oauth_message(exc)}. Codes are single-use and expire after "
            "5 minutes; start the login again."
        ) from None
    return TokenResponse.from_authlib(token)


def refresh_access_token(refresh_token: str) -> TokenResponse:
    """A new access token (and possibly a rotated refresh token) for ``refresh_token``.

    Raises ``TokenInvalidError`` when SSO refuses the refresh token (``invalid_grant``).
    """

    def call() -> dict[str, Any]:
        return dict(_client().refresh_token(get_metadata().token_endpoint, refresh_token=refresh_token))

    try:
        token = retrying("token refresh", call, resend=False)  # SSO may rotate at once
    except OAuthError as exc:
        if exc.error == "invalid_grant":
            raise TokenInvalidError(
                f"EVE SSO refused the refresh token: {_oauth_message(exc)}. The player revoked access, the "
                "application's scopes changed or the character changed owner; the character must log in again."
            ) from None
        if exc.error == "invalid_client":
            raise _bad_credentials() from None
        raise SSOError(f"EVE SSO refused the token refresh: {_oauth_message(exc)}.") from None
    return TokenResponse.from_authlib(token)


def revoke_refresh_token(refresh_token: str) -> None:
    """Revoke a refresh token at SSO (RFC 7009; SSO answers 200 even for unknown tokens)."""

    def call() -> None:
        response = _client().revoke_token(
            get_metadata().revocation_endpoint, token=refresh_token, token_type_hint="refresh_token"
        )
        raise_for_retryable(response)
        if response.status_code >= 400:
            raise SSOError(f"EVE SSO answered HTTP {response.status_code} to the token revocation.")

    retrying("token revocation", call)
    logger.info("Revoked a refresh token at EVE SSO")
