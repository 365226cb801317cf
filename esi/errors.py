"""django-esi 10's ``esi.errors``: every old name still imports (with a one-time
``DeprecationWarning``); they live in :mod:`esi.compat.errors`. Use :mod:`esi.exceptions`."""

from esi.compat._deprecation import legacy_getattr

_REPLACEMENTS = {
    "DjangoEsiException": "esi.exceptions.EsiError",
    "TokenError": "esi.exceptions.TokenError",
    "TokenInvalidError": "esi.exceptions.TokenInvalidError",
    "TokenExpiredError": "esi.exceptions.NotRefreshableError",
    "NotRefreshableTokenError": "esi.exceptions.NotRefreshableError",
    "IncompleteResponseError": "esi.exceptions.SSOUnavailable",
    "SSOUnavailableError": "esi.exceptions.SSOUnavailable",
    "SSOOAuthError": "esi.exceptions.SSOError",
    "HTTPError": "esi.exceptions.EsiResponseError",
    "HTTPClientError": "esi.exceptions.EsiClientError",
    "HTTPServerError": "esi.exceptions.EsiServerError",
    "HTTPNotModified": "nothing (a 304 returns the stored data with not_modified=True)",
    "ESIErrorLimitException": "esi.exceptions.EsiErrorLimited",
    "ESIBucketLimitException": "esi.exceptions.EsiRateLimited",
    "TaskBucketLimitException": "esi.exceptions.EsiRateLimited",
}

__all__ = sorted(_REPLACEMENTS)

__getattr__ = legacy_getattr("esi.errors", {name: ("esi.compat.errors", new) for name, new in _REPLACEMENTS.items()})
