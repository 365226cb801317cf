"""The one refresh: make a stored token's access token good for ``ESI_TOKEN_REFRESH_MARGIN`` s.

Once for all workers: under the token's Redis lock (:mod:`esi.tokens._lock`); whoever waited for
the lock re-reads the row first and, if another process refreshed meanwhile, uses its result
without asking SSO again. A refresh request is never sent twice (:mod:`esi.sso._http`).

Once SSO has answered, its rotated refresh token is the only live one, so nothing that can block
or fail comes before it is stored. SSO's signing keys are read from Redis *before* the request is
sent; the answer is then verified without I/O and stored with the new access token in one UPDATE
(a refresh costs two SQL statements: the locked re-read and that UPDATE). When the keys were not
at hand, or that verification does not settle it, the rotated refresh token is stored first and
the access token verified the slow way (which may fetch SSO's keys) before it is stored.

Failures become outcomes by one policy (:mod:`esi.tokens._outcome`): ``invalid_grant`` deletes
the token and sends ``token_invalidated`` — unless the row changed meanwhile or the lock was lost,
when the newer row is used or ``SSOUnavailable`` asks to try again. SSO errors and timeouts leave
the row untouched (``SSOUnavailable``); a Redis that does not answer around the lock is
``RedisUnavailable``, the row untouched.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import DatabaseError, close_old_connections
from django.utils import timezone
from redis.lock import Lock

from esi.exceptions import (
    EsiError,
    NotRefreshableError,
    RedisUnavailable,
    SSOError,
    SSOUnavailable,
    TokenError,
    TokenInvalidError,
)
from esi.signals import token_refreshed
from esi.sso import (
    EveClaims,
    TokenResponse,
    cached_signing_keys,
    refresh_access_token,
    verify_access_token,
    verify_with,
)
from esi.tokens._lock import Keeper, held, still_held
from esi.tokens._outcome import Outcome, RefreshResult, outcome_of
from esi.tokens._store import check_readable, delete_token, remove_other_owners

if TYPE_CHECKING:
    from esi.models import Token

__all__ = ["MAX_UNVERIFIED_LIFETIME", "Renewal", "describe", "ensure_fresh", "refresh"]

logger = logging.getLogger("esi.tokens")

#: Longest lifetime believed from ``expires_in`` for an access token stored unverified.
MAX_UNVERIFIED_LIFETIME = 1200
#: Attempts at writing SSO's answer to the database before giving up (a dropped connection).
STORE_ATTEMPTS = 3
_RELOADED = ("access_token", "refresh_token", "access_token_expires", "character_owner_hash", "updated")


@dataclass(frozen=True)
class Renewal:
    """A token renewed at or after ``since`` whose access token lasts past ``lasts_past`` needs
    nothing more (a sweep's lane run again after it was killed skips what it already did)."""

    since: dt.datetime
    lasts_past: dt.datetime

    def covers(self, token: Token) -> bool:
        expires = token.access_token_expires
        updated = token.updated
        return bool(expires and updated and updated >= self.since and expires > self.lasts_past)


def describe(token: Token) -> str:
    return f"Token {token.pk} of character {token.character_id} ({token.character_name})"


def refresh(token: Token, *, force: bool = False, renewed: Renewal | None = None) -> RefreshResult:
    """Make ``token`` good for ``ESI_TOKEN_REFRESH_MARGIN`` s (``force``: renew it now anyway).

    Never raises for the token's own trouble: the result's outcome says what happened, by the
    policy of :mod:`esi.tokens._outcome`; database errors and bugs are raised.
    """
    try:
        outcome = ensure_fresh(token, force=force, renewed=renewed)
    except EsiError as exc:
        policy = outcome_of(exc)
        if policy is None:
            raise
        if policy is Outcome.FAILED:
            logger.warning("%s not refreshed: %s", describe(token), exc)
        return RefreshResult(token.pk, policy, exc)
    return RefreshResult(token.pk, outcome)


def ensure_fresh(token: Token, force: bool = False, renewed: Renewal | None = None) -> Outcome:
    """:func:`refresh`, raising the errors instead (``REFRESHED`` or ``FRESH`` when it returns)."""
    if renewed is not None and renewed.covers(token) and not token.needs_refresh:
        return Outcome.FRESH
    if not force and not token.needs_refresh:
        return Outcome.FRESH
    check_readable(token)
    if token.pk is None:
        raise TokenError("This token was never saved (or was deleted); store it before using it.")
    if not token.refresh_token:
        if not force and not token.expired:
            return Outcome.FRESH  # still valid for less than the margin: better than nothing
        when = (
            f"expires at {token.access_token_expires:%Y-%m-%d %H:%M:%S} UTC"
            if token.access_token_expires
            else "has an unknown expiry"
        )
        raise NotRefreshableError(
            f"{describe(token)} has no refresh token and its access token {when}; it cannot be renewed. "
            "Log the character in again with the scopes you need."
        )
    seen = token.access_token
    with held(token.pk, f"Gave up waiting for another process to refresh {describe(token)}; try again.") as lock:
        _reload(token)  # the locked re-read: another process may have refreshed meanwhile
        someone_else_refreshed = token.access_token != seen
        if not token.needs_refresh and (not force or someone_else_refreshed):
            return Outcome.FRESH
        if renewed is not None and renewed.covers(token) and not token.needs_refresh:
            return Outcome.FRESH
        if not token.refresh_token:
            raise NotRefreshableError(f"{describe(token)} lost its refresh token; log the character in again.")
        check_readable(token)  # the re-read row's, too
        _refresh_locked(token, lock)
    return Outcome.REFRESHED


def _reload(token: Token) -> None:
    row = type(token).objects.filter(pk=token.pk).values_list(*_RELOADED).first()
    if row is None:
        raise TokenInvalidError(
            f"{describe(token)} no longer exists: it was deleted (refused by EVE SSO, revoked or removed); "
            "the character must log in again."
        )
    token.access_token, token.refresh_token, token.access_token_expires, token.character_owner_hash = row[:4]
    token.updated = row[4]


def _refresh_locked(token: Token, lock: Lock) -> None:
    old_refresh = str(token.refresh_token or "")
    still_held(lock, token.pk, describe(token))
    keys = cached_signing_keys()  # before the request: after SSO answers, nothing may come first
    with Keeper(lock, token.pk) as keeper:
        try:
            response = refresh_access_token(old_refresh)
        except TokenInvalidError as exc:
            _refused(token, old_refresh, exc, lock_lost=keeper.lost)
    new_refresh = response.refresh_token or old_refresh
    if keeper.lost:
        logger.warning("Storing the refresh of token %s although its lock expired: it is SSO's newest", token.pk)
    claims = verify_with(response.access_token, keys) if keys is not None else None
    if claims is None:
        # The slow way: the rotated refresh token first, then a verification that may need I/O.
        if new_refresh != old_refresh:
            _store(token, refresh_token=new_refresh)
        claims = _verify_slowly(token, response)
    _check_owner(token, claims, new_refresh, old_refresh)
    lifetime = min(max(0, response.expires_in), MAX_UNVERIFIED_LIFETIME)
    expires = claims.expires if claims else timezone.now() + dt.timedelta(seconds=lifetime)
    _store(token, refresh_token=new_refresh, access_token=response.access_token, access_token_expires=expires)
    rotated = new_refresh != old_refresh
    logger.info(
        "Refreshed token %s of character %s (expires %s, refresh token rotated: %s)",
        token.pk,
        token.character_id,
        expires.isoformat(),
        rotated,
    )
    token_refreshed.send(sender=type(token), token=token, rotated=rotated)


def _verify_slowly(token: Token, response: TokenResponse) -> EveClaims | None:
    try:
        return verify_access_token(response.access_token)
    except (SSOUnavailable, RedisUnavailable):
        # SSO's keys cannot be had now; the token came straight from SSO's token endpoint.
        logger.warning("Storing the refreshed token %s unverified: EVE SSO's signing keys are unavailable", token.pk)
        return None


def _check_owner(token: Token, claims: EveClaims | None, new_refresh: str, old_refresh: str) -> None:
    """A token of another character or owner is not stored; the rotated refresh token is."""
    if claims is None or (
        claims.character_id == token.character_id and claims.owner_hash == token.character_owner_hash
    ):
        return
    if new_refresh != old_refresh and token.refresh_token != new_refresh:
        _store(token, refresh_token=new_refresh)
    if claims.character_id != token.character_id:
        raise SSOError(
            f"EVE SSO refreshed {describe(token)} with a token of character {claims.character_id}; only its "
            "refresh token was stored. Log the character in again if this repeats."
        )
    remove_other_owners(claims.character_id, claims.owner_hash)
    raise TokenInvalidError(
        f"Character {token.character_id} ({token.character_name}) now belongs to another EVE account; "
        "its tokens of the previous owner were deleted. The new owner must log in."
    )


def _refused(token: Token, sent: str, exc: TokenInvalidError, *, lock_lost: bool) -> None:
    """SSO refused ``sent``: delete the token, unless the row moved on or another refresh may run."""
    row = type(token).objects.filter(pk=token.pk).values_list("refresh_token", "updated").first()
    if row is not None and row[0] != sent:
        _reload(token)  # another process stored a newer refresh token meanwhile: that one counts
        raise SSOUnavailable(f"{describe(token)} was refreshed by another process meanwhile; try again.")
    if lock_lost:
        raise SSOUnavailable(
            f"EVE SSO refused the refresh of {describe(token)} after its lock expired: another refresh may hold "
            "the new token. The token was kept; try again."
        )
    if row is not None and not delete_token(token, "invalid_grant", updated=row[1]):
        _reload(token)  # changed between the read and the delete: the newer row counts
        raise SSOUnavailable(f"{describe(token)} was refreshed by another process meanwhile; try again.")
    raise TokenInvalidError(f"{describe(token)} was deleted: {exc}") from None


def _store(token: Token, **fields: Any) -> None:
    """Write ``fields`` (tokens and expiry together) in one UPDATE, then onto ``token``.

    A dropped database connection is met by a few attempts: SSO's answer must not be lost.
    """
    fields["updated"] = timezone.now()
    for attempt in range(1, STORE_ATTEMPTS + 1):
        try:
            updated = type(token).objects.filter(pk=token.pk).update(**fields)
            break
        except DatabaseError as exc:
            if attempt == STORE_ATTEMPTS:
                logger.error("Could not store the refresh of token %s (%s)", token.pk, type(exc).__name__)
                raise
            close_old_connections()
            time.sleep(0.2 * attempt)
    if not updated:
        raise TokenInvalidError(f"{describe(token)} was deleted while it was being refreshed.")
    for name, value in fields.items():
        setattr(token, name, value)
