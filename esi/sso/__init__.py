"""EVE SSO v2 through authlib: login (state + PKCE S256), code exchange, refresh, revoke, and
verification of the access tokens (JWT) against SSO's published keys.

Importing this package does not touch the models, so it is safe before Django's apps are ready.
"""

from esi.sso._jwt import EveClaims, clear_key_cache, verify_access_token
from esi.sso._login import cleanup_callback_redirects, finish_login, start_login, take_callback_token
from esi.sso._metadata import SSOMetadata, accepted_issuers, clear_metadata_cache, get_metadata
from esi.sso._oauth import (
    AuthorizationRequest,
    TokenResponse,
    exchange_code,
    new_authorization,
    refresh_access_token,
    revoke_refresh_token,
)
from esi.sso._tokens import ensure_fresh, remove_other_owners, revoke, store_login, token_lock

__all__ = [
    "AuthorizationRequest",
    "EveClaims",
    "SSOMetadata",
    "TokenResponse",
    "accepted_issuers",
    "cleanup_callback_redirects",
    "clear_key_cache",
    "clear_metadata_cache",
    "ensure_fresh",
    "exchange_code",
    "finish_login",
    "get_metadata",
    "new_authorization",
    "refresh_access_token",
    "remove_other_owners",
    "revoke",
    "revoke_refresh_token",
    "start_login",
    "store_login",
    "take_callback_token",
    "token_lock",
    "verify_access_token",
]
