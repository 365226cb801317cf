"""django-esi 10's exception names (``esi.errors.*`` and ``esi.exceptions.HTTPClientError``...).

Most old names are the :mod:`esi.exceptions` class raised in the same situation today, so
``except TokenExpiredError:`` still catches what it used to::

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
    HTTPClientError              its own class: an EsiClientError (``.status_code``, ``.headers``, ``.data``)
    HTTPServerError              its own class: an EsiServerError
    HTTPError                    EsiResponseError (any error status; parent of the two above)
    HTTPNotModified              never raised: a 304 returns the stored data

django-esi 10 built its HTTP errors on aiopenapi3's, and code written for it catches them as
``aiopenapi3.errors.HTTPError`` (Alliance Auth does). So :class:`HTTPClientError`,
:class:`HTTPServerError` and :class:`HTTPNotModified` also derive from aiopenapi3's classes
(a dependency kept for that), and :class:`~esi.compat.openapi_clients.ESIClientProvider`
raises them: ``except HTTPError``, ``except HTTPClientError`` and ``except EsiClientError`` all
catch what an ESI 4xx raises through it.
"""

from __future__ import annotations

from typing import Any

from aiopenapi3 import errors as aiopenapi3_errors

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
    "legacy_http_error",
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


class _LegacyStatusError(EsiResponseError):
    """django-esi 10's constructor: ``HTTPClientError(status_code, headers, data)``."""

    def __init__(
        self,
        status_code: int,
        headers: dict[str, str] | None = None,
        data: Any = None,
        *,
        operation: str | None = None,
        message: str | None = None,
    ) -> None:
        super().__init__(status_code, data, operation, headers, message)
        self._keep_args(status_code, dict(self.headers), data)

    # aiopenapi3's classes are dataclasses (eq=True makes them unhashable): exceptions must hash.
    __hash__ = Exception.__hash__

    def __eq__(self, other: object) -> bool:
        return self is other


class HTTPClientError(_LegacyStatusError, EsiClientError, aiopenapi3_errors.HTTPClientError):  # type: ignore[misc]
    """ESI answered 4xx (django-esi 10's name); an :class:`~esi.exceptions.EsiClientError`."""


class HTTPServerError(_LegacyStatusError, EsiServerError, aiopenapi3_errors.HTTPServerError):  # type: ignore[misc]
    """ESI answered 5xx after the retries (django-esi 10's name); an :class:`~esi.exceptions.EsiServerError`."""


class HTTPNotModified(EsiError, aiopenapi3_errors.HTTPError):  # type: ignore[misc]
    """Never raised: a 304 from ESI returns the stored body (``not_modified=True``).

    It exists so that ``except HTTPNotModified:`` in code written for django-esi 10 still
    imports (and tests that raise it from mocks still work); that branch simply stops running.
    """

    def __init__(self, status_code: int = 304, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"ESI answered {status_code}: not modified")
        self.status_code = status_code
        self.headers = headers or {}
        self._keep_args(status_code, dict(self.headers))

    __hash__ = Exception.__hash__

    def __eq__(self, other: object) -> bool:
        return self is other


def legacy_http_error(exc: EsiResponseError) -> EsiResponseError:
    """The django-esi 10 class for an ESI error answer, with the same status, headers and body."""
    if isinstance(exc, HTTPClientError | HTTPServerError):
        return exc
    cls = HTTPServerError if isinstance(exc, EsiServerError) else HTTPClientError
    return cls(exc.status, exc.headers, exc.body, operation=exc.operation, message=str(exc))
