"""The one outcome of a refresh and the one error policy every caller follows.

=======================================  ===================  =====================================
what happened                            outcome              what it means for the caller
=======================================  ===================  =====================================
SSO handed out a new access token        ``REFRESHED``        use it
nothing to do (still valid, or another   ``FRESH``            use it
process / this sweep renewed it)
the row is gone (deleted meanwhile)      ``MISSING``          nothing to do
``TokenInvalidError``: SSO refused the   ``INVALID``          **dead**: the token was deleted
refresh token, or the character changed                       (``token_invalidated``); never retry
owner
``NotRefreshableError``: no refresh      ``NOT_REFRESHABLE``  kept; only a new login renews it
token, access token expired
``SSOUnavailable``, ``RedisUnavailable``  ``UNAVAILABLE``      **try later**: the token is intact
(SSO down or slow, lock busy, Redis
away)
``JWTValidationError``, ``SSOError``     ``FAILED``           this token's failure: kept (a rotated
(a token of another character),                               refresh token is stored), counted,
``EsiConfigurationError`` (undecryptable                      never aborts a sweep
refresh token), other ``TokenError``
anything else (database errors, bugs)    --                   **raised**
=======================================  ===================  =====================================

:meth:`RefreshResult.raise_error` turns an outcome back into the exception it came from, which is
what the single-token methods (``valid_access_token()``, ``refresh()``) do.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from esi.exceptions import (
    EsiConfigurationError,
    EsiError,
    NotRefreshableError,
    RedisUnavailable,
    SSOError,
    SSOUnavailable,
    TokenError,
    TokenInvalidError,
)

__all__ = ["Outcome", "RefreshResult", "outcome_of"]


class Outcome(enum.StrEnum):
    """What one refresh came to (the values are the sweep's and the tasks' outcome names)."""

    REFRESHED = "refreshed"
    FRESH = "fresh"
    MISSING = "missing"
    INVALID = "invalid"
    NOT_REFRESHABLE = "not_refreshable"
    UNAVAILABLE = "unavailable"
    FAILED = "failed"

    @property
    def ok(self) -> bool:
        """The token is usable now (``REFRESHED`` or ``FRESH``)."""
        return self in (Outcome.REFRESHED, Outcome.FRESH)

    @property
    def failed(self) -> bool:
        """The token was not renewed although it was asked to be (a sweep's "failed")."""
        return self in (Outcome.INVALID, Outcome.NOT_REFRESHABLE, Outcome.UNAVAILABLE, Outcome.FAILED)

    @property
    def retry_later(self) -> bool:
        return self is Outcome.UNAVAILABLE


def outcome_of(exc: EsiError) -> Outcome | None:
    """The policy: the outcome ``exc`` stands for, or ``None`` when it must be raised."""
    if isinstance(exc, TokenInvalidError):
        return Outcome.INVALID
    if isinstance(exc, NotRefreshableError):
        return Outcome.NOT_REFRESHABLE
    if isinstance(exc, SSOUnavailable | RedisUnavailable):
        return Outcome.UNAVAILABLE
    if isinstance(exc, SSOError | TokenError | EsiConfigurationError):
        return Outcome.FAILED
    return None


@dataclass(frozen=True)
class RefreshResult:
    """One refresh: its outcome and, when it went wrong, the error (its message names no secret)."""

    token_id: int | None
    outcome: Outcome
    error: EsiError | None = None

    @property
    def ok(self) -> bool:
        return self.outcome.ok

    def raise_error(self) -> None:
        """Raise the error this outcome came from (nothing for ``REFRESHED``/``FRESH``/``MISSING``)."""
        if self.error is not None:
            raise self.error
