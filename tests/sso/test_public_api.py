"""The public surface of esi.sso, esi.tokens, esi.login, esi.signals and esi.models is pinned."""

import esi.login
import esi.models
import esi.signals
import esi.sso
import esi.tokens


def test_sso_all_is_sorted_and_complete() -> None:
    for module in (esi.sso, esi.tokens):
        assert module.__all__ == sorted(module.__all__)
        public = {name for name in vars(module) if name.isidentifier() and not name.startswith("_")}
        assert set(module.__all__) == public - {"annotations"}


def test_pinned_names() -> None:
    assert esi.sso.__all__ == [
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
    assert esi.tokens.__all__ == [
        "LOCK_WAIT",
        "Outcome",
        "PROGRESS_TTL",
        "Pool",
        "RefreshResult",
        "Renewal",
        "SweepProgress",
        "SweepRecorder",
        "check_readable",
        "delete_token",
        "ensure_fresh",
        "forget_refusals",
        "lock_timeout",
        "outcome_of",
        "pick_from_pool",
        "pool_refusals",
        "refresh",
        "refresh_many",
        "refuse_in_pool",
        "remove_other_owners",
        "revoke",
        "store_login",
        "sweep_progress",
        "token_lock",
    ]
    assert esi.login.__all__ == [
        "cleanup_callback_redirects",
        "finish_login",
        "session_key",
        "start_login",
        "take_callback_token",
    ]
    assert esi.signals.__all__ == ["token_created", "token_invalidated", "token_owner_changed", "token_refreshed"]
    assert esi.models.__all__ == ["CallbackRedirect", "Dashboard", "Scope", "Token"]


def test_sso_imports_no_model() -> None:
    """esi.sso is the OAuth/JWT layer: none of its modules imports esi.models or esi.tokens."""
    import ast
    from pathlib import Path

    for path in Path(esi.sso.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
        imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        assert not {name for name in imported if name.startswith(("esi.models", "esi.tokens", "esi.login"))}, path
