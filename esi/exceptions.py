"""The one exception hierarchy of django-esi.

Every error a caller can meet derives from :class:`EsiError`. Messages say what was wrong and
what to do about it, and never contain a token, a code or the client secret::

    EsiError
    ├── EsiConfigurationError       (also django's ImproperlyConfigured) a setting is wrong
    ├── EsiRequestError             the call was refused before any I/O; never worth retrying
    │   ├── UnknownOperation        no such operationId (names the closest ones)
    │   │   └── OperationNotInView  the route is not in this compatibility date's view (names the dates)
    │   ├── InvalidParameter        a parameter is missing, unknown or of the wrong type
    │   ├── TokenRequired           a secured operation was called without a token
    │   └── MissingScope            the token lacks a scope the operation needs (names it)
    ├── EsiLimited                  ESI's budget is spent; retry after ``retry_after`` seconds
    │   ├── EsiRateLimited          one rate-limit group is empty (``group``)
    │   ├── EsiErrorLimited         the error limit (or daily downtime) pauses everything
    │   └── EsiRetryLater           ESI asked for a longer wait than this process waits in place
    ├── EsiResponseError            ESI answered with an error status (``status``, ``body``)
    │   ├── EsiClientError          4xx
    │   │   ├── EsiUnauthorized     401
    │   │   ├── EsiForbidden        403
    │   │   └── EsiNotFound         404
    │   └── EsiServerError          5xx that outlasted the retries
    ├── EsiTransportError           no usable answer from ESI (the httpx error is chained)
    │   ├── EsiTimeout              no answer in time (a read, or ESI_REQUEST_DEADLINE in total)
    │   ├── EsiConnectionError
    │   ├── EsiResponseTooLarge     the answer passed a cap (ESI_MAX_RESPONSE_BYTES, ESI_MAX_PAGES)
    │   └── EsiSnapshotChanged      ESI published new data while the pages of one crawl were read
    ├── EsiSpecError                the OpenAPI document could not be read or fetched
    ├── EsiResultTooLarge           a task's result passed ESI_TASK_RESULT_MAX_BYTES (not stored)
    ├── RedisUnavailable            the Redis behind cache, limits and locks did not answer
    ├── TokenError                  a stored token cannot be used
    │   ├── TokenInvalidError       SSO refused the refresh token (``invalid_grant``)
    │   ├── NotRefreshableError     the token has no refresh token
    │   └── NoTokenError            no token of that character holds the scopes needed
    │       └── NoCorporationTokenError  no character of the corporation can serve it (roles)
    └── SSOError                    EVE SSO login or token exchange failed
        ├── SSOCallbackError        the callback's state is missing, unknown, reused or expired
        ├── JWTValidationError      the access token's signature or claims are not valid
        └── SSOUnavailable          SSO did not answer usefully (5xx, timeout) after retries

httpx errors are translated into these in exactly one place, ``esi.client._transport``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.exceptions import ImproperlyConfigured

__all__ = [
    "EsiClientError",
    "EsiConfigurationError",
    "EsiConnectionError",
    "EsiError",
    "EsiErrorLimited",
    "EsiForbidden",
    "EsiLimited",
    "EsiNotFound",
    "EsiRateLimited",
    "EsiRequestError",
    "EsiResponseError",
    "EsiResponseTooLarge",
    "EsiResultTooLarge",
    "EsiRetryLater",
    "EsiServerError",
    "EsiSnapshotChanged",
    "EsiSpecError",
    "EsiTimeout",
    "EsiTransportError",
    "EsiUnauthorized",
    "InvalidParameter",
    "JWTValidationError",
    "MissingScope",
    "NoCorporationTokenError",
    "NoTokenError",
    "NotRefreshableError",
    "OperationNotInView",
    "RedisUnavailable",
    "SSOCallbackError",
    "SSOError",
    "SSOUnavailable",
    "TokenError",
    "TokenInvalidError",
    "TokenRequired",
    "UnknownOperation",
]


class EsiError(Exception):
    """Root of every error raised by django-esi.

    Classes with their own ``__init__`` keep ``args`` equal to their constructor's arguments
    (:meth:`_keep_args`) and the message apart, so an error survives a Celery result backend
    (which rebuilds it as ``cls(*args)``) and pickling with its class, attributes and message.
    """

    _message: str | None = None

    def __init__(self, *args: Any) -> None:
        # The cooperative ``__init__`` chain ends here: a subclass that also derives from another
        # library's exception (the django-esi 10 names derive from aiopenapi3's dataclasses) must
        # not have that class's ``__init__`` called with our message.
        Exception.__init__(self, *args)

    def __str__(self) -> str:
        return self._message if self._message is not None else super().__str__()

    def _keep_args(self, *args: Any) -> None:
        self._message = str(self)
        self.args = args


class EsiConfigurationError(EsiError, ImproperlyConfigured):
    """A setting is missing or wrong; the message names the setting and the fix."""


# --- refused before any I/O -------------------------------------------------------------------


class EsiRequestError(EsiError, ValueError):
    """The call cannot be made as asked; fix the call, retrying will not help."""

    def __init__(self, message: str, *, operation: str | None = None) -> None:
        super().__init__(message)
        self.operation = operation


class UnknownOperation(EsiRequestError):
    def __init__(self, operation: str, suggestions: list[str] | None = None) -> None:
        self.suggestions = suggestions or []
        hint = f" Did you mean: {', '.join(self.suggestions)}?" if self.suggestions else ""
        super().__init__(f"ESI has no operation {operation!r}.{hint}", operation=operation)
        self._keep_args(operation, self.suggestions)


class OperationNotInView(UnknownOperation):
    """The operation's route is not in the view of this client's compatibility date."""

    def __init__(self, operation: str, view_date: str, dates: list[str], suggestions: list[str] | None = None) -> None:
        self.view_date = view_date
        self.dates = list(dates)
        self.suggestions = suggestions or []
        hint = f" Closest in this view: {', '.join(self.suggestions)}." if self.suggestions else ""
        EsiRequestError.__init__(
            self,
            f"{operation!r} is not in the ESI view of {view_date}: its route is in the views of "
            f"{', '.join(self.dates)}. Use a client of such a date "
            f"(get_client(compatibility_date={self.dates[-1]!r})) or an operation of this view.{hint}",
            operation=operation,
        )
        self._keep_args(operation, view_date, self.dates, self.suggestions)


class InvalidParameter(EsiRequestError):
    def __init__(self, message: str, *, operation: str | None = None, parameter: str | None = None) -> None:
        super().__init__(message, operation=operation)
        self.parameter = parameter


class TokenRequired(EsiRequestError):
    """A secured operation was called without a token."""


class MissingScope(EsiRequestError):
    def __init__(self, message: str, *, operation: str | None = None, scopes: list[str] | None = None) -> None:
        super().__init__(message, operation=operation)
        self.scopes = scopes or []


# --- limits: pause, do not fail -------------------------------------------------------------


def _first_number(*values: float | None, default: float) -> float:
    return next((float(v) for v in values if v is not None), default)


class EsiLimited(EsiError):
    """ESI's budget is spent for now; the same call works after ``retry_after`` seconds."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = max(0.0, float(retry_after))

    @property
    def reset(self) -> float:
        """django-esi 10's name for :attr:`retry_after`."""
        return self.retry_after


class EsiRateLimited(EsiLimited):
    def __init__(
        self,
        group: str | None = None,
        retry_after: float | None = None,
        message: str | None = None,
        *,
        bucket: Any = None,
        reset: float | None = None,
    ) -> None:
        # ``bucket``/``reset`` are django-esi 10's keyword names (ESIBucketLimitException).
        group = group if group is not None else (str(bucket) if bucket is not None else "unknown")
        retry_after = _first_number(retry_after, reset, default=60.0)
        self.group = group
        super().__init__(
            message or f"ESI rate-limit group {group!r} has no tokens left; retry in {retry_after:.1f} s.",
            retry_after=retry_after,
        )
        self._keep_args(group, retry_after, message)

    @property
    def bucket(self) -> str:
        """django-esi 10's name for :attr:`group`."""
        return self.group


class EsiErrorLimited(EsiLimited):
    def __init__(
        self, retry_after: float | None = None, message: str | None = None, *, reset: float | None = None
    ) -> None:
        # ``reset`` is django-esi 10's keyword name (ESIErrorLimitException); ESI's window is 60 s.
        retry_after = _first_number(retry_after, reset, default=60.0)
        super().__init__(
            message or f"ESI's error limit is nearly spent; nothing is sent for {retry_after:.1f} s.",
            retry_after=retry_after,
        )
        self._keep_args(retry_after, message)


# --- ESI answered with an error ------------------------------------------------------------


class EsiRetryLater(EsiLimited):
    """A server error (or a timeout) asked for a wait longer than ``ESI_MAX_IN_PROCESS_WAIT`` inside a
    Celery worker, which does not sleep that long: the call ended, and the same call may work after
    ``retry_after`` seconds. The fetch tasks re-queue themselves with that countdown; ``status`` is
    ESI's last answer (0 for a timeout or a broken connection, which is then the ``__cause__``)."""

    def __init__(self, retry_after: float, message: str | None = None, status: int = 0) -> None:
        super().__init__(
            message or f"ESI asked to wait {float(retry_after):.1f} s, longer than this process waits in place.",
            retry_after=retry_after,
        )
        self.status = status
        self._keep_args(retry_after, message, status)


class EsiResponseError(EsiError):
    """ESI answered with an error status. ``body`` is ESI's decoded error body when it sent one."""

    def __init__(
        self,
        status: int | None = None,
        body: Any = None,
        operation: str | None = None,
        headers: dict[str, str] | None = None,
        message: str | None = None,
        *,
        status_code: int | None = None,
        data: Any = None,
    ) -> None:
        # ``status_code``/``data`` are django-esi 10's keyword names (HTTPClientError, HTTPServerError).
        if status is None:
            if status_code is None:
                raise TypeError(f"{type(self).__name__} needs the HTTP status: status= (django-esi 10: status_code=)")
            status = int(status_code)
        if body is None:
            body = data
        self.status = status
        self.body = body
        self.operation = operation
        self.headers = headers or {}
        detail = body.get("error") if isinstance(body, dict) else body
        super().__init__(message or f"ESI answered {status} to {operation or 'the request'}: {detail!r}")
        self._keep_args(status, body, operation, dict(self.headers), str(self))

    @property
    def status_code(self) -> int:
        """django-esi 10's name for :attr:`status`."""
        return self.status

    @property
    def data(self) -> Any:
        """django-esi 10's name for :attr:`body`."""
        return self.body

    @staticmethod
    def for_status(status: int) -> type[EsiResponseError]:
        """The most specific class for an HTTP status."""
        return _BY_STATUS.get(status) or (EsiServerError if status >= 500 else EsiClientError)


class EsiClientError(EsiResponseError):
    """A 4xx answer: the request was wrong for ESI; not retried."""


class EsiUnauthorized(EsiClientError):
    pass


class EsiForbidden(EsiClientError):
    pass


class EsiNotFound(EsiClientError):
    pass


class EsiServerError(EsiResponseError):
    """A 5xx answer that was still there after the configured retries."""


_BY_STATUS: dict[int, type[EsiResponseError]] = {401: EsiUnauthorized, 403: EsiForbidden, 404: EsiNotFound}


# --- no usable answer ------------------------------------------------------------------------


class EsiTransportError(EsiError):
    """ESI could not be reached or did not answer in time; the httpx error is the ``__cause__``."""


class EsiTimeout(EsiTransportError):
    pass


class EsiConnectionError(EsiTransportError):
    pass


class EsiResponseTooLarge(EsiTransportError):
    """ESI's answer went past a cap: a body larger than ``ESI_MAX_RESPONSE_BYTES`` (decompressed)
    or more pages than ``ESI_MAX_PAGES``. Nothing of it is used; raise the setting if it is real."""


class EsiSnapshotChanged(EsiTransportError):
    """The pages of one ``X-Pages`` crawl did not share ``Last-Modified``/``X-Pages``: ESI published new
    data mid-crawl. A joined crawl (``all_pages=True``) restarts by itself a few times first; a streamed
    one (``iter_pages``) cannot take back the pages it gave, so it raises at once: start it again."""


class EsiSpecError(EsiError):
    """The OpenAPI document could not be loaded, parsed or fetched."""


class EsiResultTooLarge(EsiError):
    """A ``fetch_endpoint`` result is larger than ``ESI_TASK_RESULT_MAX_BYTES`` (its JSON), so it is
    not put in the result backend. The fetch itself happened: the answer is in the cache and was
    sent with ``endpoint_fetched``. Read large answers there, or page by page, not from ``.get()``."""

    def __init__(self, size: int = 0, limit: int = 0, operation: str | None = None) -> None:
        self.size, self.limit, self.operation = int(size), int(limit), operation
        super().__init__(
            f"The result of {operation or 'this fetch'} is {size:,} bytes of JSON, above "
            f"ESI_TASK_RESULT_MAX_BYTES ({limit:,}), so it was not stored. The fetch happened: read the "
            "data in an endpoint_fetched receiver, from the cache (client.call), or page by page."
        )
        self._keep_args(size, limit, operation)


class RedisUnavailable(EsiError):
    """The Redis that holds the cache, limits, locks and claims did not answer in time.

    Nothing was sent to ESI and no stored token was changed; the redis-py error is the
    ``__cause__``. Retry once Redis is back (tasks re-queue themselves).
    """


# --- tokens and SSO ----------------------------------------------------------------------------


class TokenError(EsiError):
    """A stored token cannot be used."""


class TokenInvalidError(TokenError):
    """SSO refused the refresh token: the player revoked access or the character changed hands."""


class NotRefreshableError(TokenError):
    """The token has no refresh token, so it cannot be renewed once its access token expires."""


class NoTokenError(TokenError):
    """No stored token of the character holds the scopes the operation needs."""


class NoCorporationTokenError(NoTokenError):
    """No character of ``corporation_id`` can serve ``operation`` from the token pool: no member's
    token holds ``scopes``, or ESI refused every one that does (403, lacking one of ``roles``);
    ``refused`` lists those characters. See ``docs/token-pools.md``."""

    def __init__(
        self,
        message: str,
        corporation_id: int | None = None,
        operation: str | None = None,
        roles: Sequence[str] = (),
        scopes: Sequence[str] = (),
        refused: Sequence[int] = (),
    ) -> None:
        super().__init__(message)
        self.corporation_id = corporation_id
        self.operation = operation
        self.roles = tuple(roles)
        self.scopes = tuple(scopes)
        self.refused = tuple(refused)
        self._keep_args(message, corporation_id, operation, list(roles), list(scopes), list(refused))


class SSOError(EsiError):
    """EVE SSO login or token exchange failed."""


class SSOCallbackError(SSOError):
    """The SSO callback cannot be trusted (missing, unknown, reused or expired state).

    ``reason`` is a short code for the page shown to the user: ``missing``, ``unknown``,
    ``reused``, ``expired``, ``denied`` or ``invalid``.
    """

    def __init__(self, message: str, *, reason: str = "invalid") -> None:
        super().__init__(message)
        self.reason = reason


class JWTValidationError(SSOError):
    """The access token's signature or claims did not verify; nothing was stored."""


class SSOUnavailable(SSOError):
    """SSO did not answer usefully after retries; stored tokens were left untouched."""


#: django-esi 10 names this module still offers (the doors into :mod:`esi.compat.errors`).
_LEGACY_NAMES = {
    "HTTPError": "esi.exceptions.EsiResponseError",
    "HTTPClientError": "esi.exceptions.EsiClientError",
    "HTTPServerError": "esi.exceptions.EsiServerError",
    "HTTPNotModified": "nothing (a 304 returns the stored data with not_modified=True)",
    "ESIErrorLimitException": "esi.exceptions.EsiErrorLimited",
    "ESIBucketLimitException": "esi.exceptions.EsiRateLimited",
    "TaskBucketLimitException": "esi.exceptions.EsiRateLimited",
}


def __getattr__(name: str) -> Any:
    """django-esi 10 names (``HTTPClientError``, ``ESIErrorLimitException``...) still import from
    here, with a one-time ``DeprecationWarning``; the compatibility layer is loaded only then."""
    replacement = _LEGACY_NAMES.get(name)
    if replacement is None:
        raise AttributeError(f"module 'esi.exceptions' has no attribute {name!r}")
    from esi.compat import errors
    from esi.compat._deprecation import warn_once

    warn_once(f"esi.exceptions.{name}", replacement)
    return getattr(errors, name)
