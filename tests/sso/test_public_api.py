"""The public surface of esi.sso, esi.signals and esi.models is pinned."""

import esi.models
import esi.signals
import esi.sso


def test_sso_all_is_sorted_and_complete() -> None:
    assert esi.sso.__all__ == sorted(esi.sso.__all__)
    public = {name for name in vars(esi.sso) if name.isidentifier() and not name.startswith("_")}
    assert set(esi.sso.__all__) == public - {"annotations"}


def test_pinned_names() -> None:
    assert esi.sso.__all__ == [
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
    assert esi.signals.__all__ == ["token_created", "token_invalidated", "token_owner_changed", "token_refreshed"]
    assert esi.models.__all__ == ["CallbackRedirect", "Scope", "Token"]
