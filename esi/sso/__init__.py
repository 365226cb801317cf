"""EVE SSO v2 through authlib: the OAuth/JWT/metadata layer, and nothing of the models.

Authorize URLs (state + PKCE S256), code exchange, refresh, revoke, and verification of the
access tokens (JWT) against SSO's published keys. What is done with the tokens (storing a login,
refreshing a stored token under its lock) is :mod:`esi.tokens`'; the browser side of a login is
:mod:`esi.login`'s.

Importing this package does not touch the models, so it is safe before Django's apps are ready.
"""

from esi.sso._jwt import EveClaims, SigningKeys, cached_signing_keys, clear_key_cache, verify_access_token, verify_with
from esi.sso._metadata import SSOMetadata, accepted_issuers, clear_metadata_cache, get_metadata
from esi.sso._oauth import (
    AuthorizationRequest,
    TokenResponse,
    exchange_code,
    new_authorization,
    refresh_access_token,
    revoke_refresh_token,
)

__all__ = [
    "AuthorizationRequest",
    "EveClaims",
    "SSOMetadata",
    "SigningKeys",
    "TokenResponse",
    "accepted_issuers",
    "cached_signing_keys",
    "clear_key_cache",
    "clear_metadata_cache",
    "exchange_code",
    "get_metadata",
    "new_authorization",
    "refresh_access_token",
    "revoke_refresh_token",
    "verify_access_token",
    "verify_with",
]
