"""django-esi 10 exception names, kept importable so code written for it keeps working.

Each name is the :mod:`esi.exceptions` class that is raised in the same situation today, so
``except TokenExpiredError:`` still catches what it used to. New code should import from
:mod:`esi.exceptions`. The names of django-esi 10's ``esi.exceptions`` module
(``HTTPClientError``, ``ESIErrorLimitException``...) import from there too; they are defined
here and looked up lazily by :mod:`esi.exceptions`::

    django-esi 10 name           raised today as (esi.exceptions)
    DjangoEsiException           EsiError (the root)
    TokenError                   TokenError
    TokenInvalidError            TokenInvalidError
    TokenExpiredError            NotRefreshableError
    NotRefreshableTokenError     NotRefreshableError
    IncompleteResponseError      SSOUnavailable
    SSOUnavailableError          SSOUnavailable
    SSOOAuthError                SSOError
    ESIErrorLimitException       EsiErrorLimited (``.reset``)
    ESIBucketLimitException      EsiRateLimited (``.bucket``, ``.reset``)
    TaskBucketLimitException     EsiRateLimited
    HTTPError                    EsiResponseError (any error status; parent of the next two)
    HTTPClientError              EsiClientError (``.status_code``, ``.headers``, ``.data``)
    HTTPServerError              EsiServerError
    HTTPNotModified              never raised: a 304 returns the stored data
"""

from __future__ import annotations

from esi.exceptions import (
    EsiClientError,
    EsiError,
    EsiErrorLimited,
    EsiRateLimited,
    EsiResponseError,
    EsiServerError,
    NotRefreshableError,
    SSOError,
    SSOUnavailable,
    TokenError,
    TokenInvalidError,
)

__all__ = [
    "DjangoEsiException",
    "ESIBucketLimitException",
    "ESIErrorLimitException",
    "HTTPClientError",
    "HTTPError",
    "HTTPNotModified",
    "HTTPServerError",
    "IncompleteResponseError",
    "NotRefreshableTokenError",
    "SSOOAuthError",
    "SSOUnavailableError",
    "TaskBucketLimitException",
    "TokenError",
    "TokenExpiredError",
    "TokenInvalidError",
]

# django-esi 10 ``esi.errors``
DjangoEsiException = EsiError
TokenExpiredError = NotRefreshableError
NotRefreshableTokenError = NotRefreshableError
IncompleteResponseError = SSOUnavailable
SSOUnavailableError = SSOUnavailable
SSOOAuthError = SSOError

# django-esi 10 ``esi.exceptions``
ESIErrorLimitException = EsiErrorLimited
ESIBucketLimitException = EsiRateLimited
TaskBucketLimitException = EsiRateLimited
HTTPError = EsiResponseError
HTTPClientError = EsiClientError
HTTPServerError = EsiServerError


class HTTPNotModified(EsiError):
    """Never raised: a 304 from ESI returns the stored body (``not_modified=True``).

    It exists so that ``except HTTPNotModified:`` in code written for django-esi 10 still
    imports; that branch simply stops running. See the upgrading guide.
    """

    def __init__(self, status_code: int = 304, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"ESI answered {status_code}: not modified")
        self.status_code = status_code
        self.headers = headers or {}


# Names django-esi 10 exported from ``esi.exceptions`` (resolved there by ``__getattr__``).
LEGACY_EXCEPTION_NAMES = frozenset(
    {
        "ESIBucketLimitException",
        "ESIErrorLimitException",
        "HTTPClientError",
        "HTTPError",
        "HTTPNotModified",
        "HTTPServerError",
        "TaskBucketLimitException",
    }
)
