"""django-esi 10's ``esi.errors``: every old name still imports (with a one-time
``DeprecationWarning``); they live in :mod:`esi.compat.errors`. Use :mod:`esi.exceptions`."""

from esi.compat._deprecation import legacy_getattr
from esi.exceptions import _LEGACY_NAMES

_REPLACEMENTS = {
    "DjangoEsiException": "esi.exceptions.EsiError",
    "TokenError": "esi.exceptions.TokenError",
    "TokenInvalidError": "esi.exceptions.TokenInvalidError",
    "TokenExpiredError": "esi.exceptions.NotRefreshableError",
    "NotRefreshableTokenError": "esi.exceptions.NotRefreshableError",
    "IncompleteResponseError": "esi.exceptions.SSOUnavailable",
    "SSOUnavailableError": "esi.exceptions.SSOUnavailable",
    "SSOOAuthError": "esi.exceptions.SSOError",
    **_LEGACY_NAMES,  # django-esi 10 defined these here too
}

__all__ = sorted(_REPLACEMENTS)

__getattr__ = legacy_getattr("esi.errors", {name: ("esi.compat.errors", new) for name, new in _REPLACEMENTS.items()})
