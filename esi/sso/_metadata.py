"""Where EVE SSO is: the endpoints django-esi 10 used, from settings, with no request.

A refresh posts straight to the token endpoint, as django-esi 10 did: apps' test suites mock
SSO at exactly those URLs, and nothing is fetched first. The defaults are EVE SSO v2's published
endpoints under ``ESI_SSO_BASE_URL`` (``https://login.eveonline.com``); django-esi 10's settings
keep their meaning: ``ESI_SSO_BASE_URL`` may end in ``/v2/oauth`` (its old form),
``ESI_SSO_LOGIN_URL`` replaces the authorize URL and ``ESI_CODE_EXCHANGE_URL`` the token URL.
SSO's metadata document (``/.well-known/oauth-authorization-server``) names the same endpoints;
it is not read, so it can never change what is requested.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from urllib.parse import urlsplit

from esi.app_settings import esi_settings
from esi.redis_pool import get_redis

__all__ = ["SSOMetadata", "accepted_issuers", "base_url", "cache_key", "clear_metadata_cache", "get_metadata"]

#: django-esi 10's ``ESI_SSO_BASE_URL`` was the OAuth base, ``https://login.eveonline.com/v2/oauth``.
_OAUTH_PATH = "/v2/oauth"


@dataclass(frozen=True)
class SSOMetadata:
    """The endpoints of one EVE SSO."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    revocation_endpoint: str
    jwks_uri: str

    @classmethod
    def defaults(cls, base: str) -> SSOMetadata:
        """EVE SSO v2's endpoints under ``base``, written as django-esi 10 wrote them."""
        oauth = base + _OAUTH_PATH
        return cls(
            issuer=base,
            authorization_endpoint=f"{oauth}/authorize/",
            token_endpoint=f"{oauth}/token",
            revocation_endpoint=f"{oauth}/revoke",
            jwks_uri=f"{base}/oauth/jwks",
        )


def base_url() -> str:
    """The SSO's root URL: ``ESI_SSO_BASE_URL`` without a trailing slash or django-esi 10's ``/v2/oauth``."""
    return str(esi_settings.ESI_SSO_BASE_URL).rstrip("/").removesuffix(_OAUTH_PATH)


def cache_key(kind: str) -> str:
    """Redis key of a cached SSO document (``jwks``) of the configured SSO."""
    digest = hashlib.sha256(base_url().encode()).hexdigest()[:16]
    return f"esi:sso:{kind}:{digest}"


def get_metadata() -> SSOMetadata:
    """The SSO's endpoints, from the settings (no request is made)."""
    defaults = SSOMetadata.defaults(base_url())
    return SSOMetadata(
        issuer=defaults.issuer,
        authorization_endpoint=esi_settings.ESI_SSO_LOGIN_URL or defaults.authorization_endpoint,
        token_endpoint=esi_settings.ESI_CODE_EXCHANGE_URL or defaults.token_endpoint,
        revocation_endpoint=defaults.revocation_endpoint,
        jwks_uri=defaults.jwks_uri,
    )


def accepted_issuers() -> list[str]:
    """``iss`` values EVE SSO uses: its root URL and its bare host.

    For the real SSO: ``https://login.eveonline.com`` and ``login.eveonline.com``.
    """
    base = base_url()
    return [base, urlsplit(base).netloc]


def clear_metadata_cache() -> None:
    """Forget the cached signing keys (after changing ``ESI_SSO_BASE_URL``, or in tests)."""
    get_redis().delete(cache_key("metadata"), cache_key("jwks"))
