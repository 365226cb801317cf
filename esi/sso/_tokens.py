"""Stored tokens and SSO: refresh once for all workers, store logins, follow ownership changes.

Refresh safety: a refresh runs under a Redis lock per token (redis-py's ``Lock``, held across
processes and hosts, living ``ESI_TOKEN_REFRESH_LOCK_TIMEOUT`` seconds and extended by a small
keeper thread while SSO is slow, so a second process never sends the same refresh token).
Whoever waited for the lock re-reads the row first: if another process refreshed meanwhile, its
result is used and SSO is not asked again.

Once SSO has answered, its rotated refresh token is the only live one: it is written to the row
*first*, before the access token is verified (which needs SSO's keys and Redis) or anything else
that can fail. A refresh request is never sent twice (:mod:`esi.sso._http`).

Failures: ``invalid_grant`` deletes the token and sends ``token_invalidated`` (a dead refresh
token cannot come back) — unless the row changed meanwhile or the lock was lost, when the newer
row is used or ``SSOUnavailable`` asks to try again. SSO errors and timeouts leave the row
untouched and raise ``SSOUnavailable``; a Redis that does not answer around the lock raises
``RedisUnavailable``, the row untouched.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from django.db import DatabaseError, close_old_connections, router, transaction
from django.utils import timezone
from redis.exceptions import LockError, LockNotOwnedError

from esi.app_settings import esi_settings
from esi.exceptions import (
    NotRefreshableError,
    RedisUnavailable,
    SSOError,
    SSOUnavailable,
    TokenError,
    TokenInvalidError,
)
from esi.redis_pool import REDIS_ERRORS, get_redis
from esi.sso._jwt import EveClaims, verify_access_token
from esi.sso._oauth import TokenResponse, refresh_access_token, revoke_refresh_token

if TYPE_CHECKING:
    from redis.lock import Lock

    from esi.models import Token

__all__ = ["LOCK_WAIT", "ensure_fresh", "lock_timeout", "remove_other_owners", "revoke", "store_login", "token_lock"]

logger = logging.getLogger(__name__)

#: Least seconds a caller waits for another process's refresh of the same token.
LOCK_WAIT = 60
#: Attempts at writing SSO's answer to the database before giving up (a dropped connection).
STORE_ATTEMPTS = 3


def lock_timeout() -> float:
    """Seconds a refresh lock lives unless extended (``ESI_TOKEN_REFRESH_LOCK_TIMEOUT``, at least 1)."""
    return max(1.0, float(esi_settings.ESI_TOKEN_REFRESH_LOCK_TIMEOUT))


def token_lock(pk: int) -> Lock:
    """The cross-process lock guarding one token's refresh token (usable from the keeper thread)."""
    timeout = lock_timeout()
    lock: Lock = get_redis().lock(
        f"esi:token-lock:{pk}", timeout=timeout, blocking_timeout=max(LOCK_WAIT, timeout), thread_local=False
    )
    return lock


class _Keeper:
    """Extends the lock every third of its lifetime while SSO works; notes when it was lost."""

    def __init__(self, lock: Lock, pk: int) -> None:
        self.lock, self.pk, self.lost = lock, pk, False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"esi-refresh-lock-{pk}", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(lock_timeout() / 3):
            try:
                self.lock.reacquire()
            except LockNotOwnedError:
                self.lost = True
                logger.warning("The refresh lock of token %s expired while EVE SSO was still answering", self.pk)
                return
            except REDIS_ERRORS as exc:
                logger.warning("The refresh lock of token %s could not be extended (%s)", self.pk, type(exc).__name__)

    def __enter__(self) -> _Keeper:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()


def _describe(token: Token) -> str:
    return f"Token {token.pk} of character {token.character_id} ({token.character_name})"


def _reload(token: Token) -> None:
    row = (
        type(token)
        .objects.filter(pk=token.pk)
        .values_list("access_token", "refresh_token", "access_token_expires", "character_owner_hash")
        .first()
    )
    if row is None:
        raise TokenInvalidError(
            f"{_describe(token)} no longer exists: it was deleted (refused by EVE SSO, revoked or removed); "
            "the character must log in again."
        )
    token.access_token, token.refresh_token, token.access_token_expires, token.character_owner_hash = row


def ensure_fresh(token: Token, force: bool = False) -> None:
    """Make ``token.access_token`` good for ``ESI_TOKEN_REFRESH_MARGIN`` s (``force``: refresh now)."""
    if not force and not token.needs_refresh:
        return
    if token.pk is None:
        raise TokenError("This token was never saved (or was deleted); store it before using it.")
    if not token.refresh_token:
        if not force and not token.expired:
            return  # still valid for less than the margin: better than nothing
        when = (
            f"expires at {token.access_token_expires:%Y-%m-%d %H:%M:%S} UTC"
            if token.access_token_expires
            else "has an unknown expiry"
        )
        raise NotRefreshableError(
            f"{_describe(token)} has no refresh token and its access token {when}; it cannot be renewed. "
            "Log the character in again with the scopes you need."
        )
    seen = token.access_token
    with _locked(token.pk, f"Gave up waiting for another process to refresh {_describe(token)}; try again.") as lock:
        _reload(token)
        someone_else_refreshed = token.access_token != seen
        if not token.needs_refresh and (not force or someone_else_refreshed):
            return
        if not token.refresh_token:
            raise NotRefreshableError(f"{_describe(token)} lost its refresh token; log the character in again.")
        _refresh_locked(token, lock)


def _redis_down(pk: int, exc: BaseException) -> RedisUnavailable:
    return RedisUnavailable(
        f"Redis did not answer at the refresh lock of token {pk} ({type(exc).__name__}); the token was not "
        "refreshed and is intact. Retry once Redis is back (check ESI_REDIS_URL)."
    )


@contextlib.contextmanager
def _locked(pk: int, busy: str) -> Iterator[Lock]:
    """Hold token ``pk``'s refresh lock; ``SSOUnavailable(busy)`` if it cannot be had in time,
    ``RedisUnavailable`` if Redis does not answer. A lock that cannot be released expires."""
    lock = token_lock(pk)
    try:
        acquired = lock.acquire()
    except REDIS_ERRORS as exc:
        raise _redis_down(pk, exc) from exc
    if not acquired:
        raise SSOUnavailable(busy)
    try:
        yield lock
    finally:
        try:
            lock.release()
        except LockError:  # expired meanwhile (Redis was away longer than the lock's lifetime)
            logger.warning("The refresh lock of token %s expired before it was released", pk)
        except REDIS_ERRORS as exc:
            logger.warning(
                "The refresh lock of token %s could not be released (%s); it expires by itself in %.0f s",
                pk,
                type(exc).__name__,
                lock_timeout(),
            )


def _still_held(lock: Lock, token: Token) -> None:
    """Refuse to send the refresh token unless this process still holds the lock."""
    try:
        owned = lock.owned()
    except REDIS_ERRORS as exc:
        raise _redis_down(token.pk, exc) from exc
    if not owned:
        raise SSOUnavailable(f"The refresh lock of {_describe(token)} expired before the refresh was sent; try again.")


def _refresh_locked(token: Token, lock: Lock) -> None:
    from esi.signals import token_refreshed

    old_refresh = token.refresh_token or ""
    _still_held(lock, token)
    with _Keeper(lock, token.pk) as keeper:
        try:
            response = refresh_access_token(old_refresh)
        except TokenInvalidError as exc:
            _refused(token, old_refresh, exc, lock_lost=keeper.lost)
    # SSO has answered: its refresh token is the only live one. Store it before anything can fail.
    new_refresh = response.refresh_token or old_refresh
    if keeper.lost:
        logger.warning("Storing the refresh of token %s although its lock expired: it is SSO's newest", token.pk)
    if new_refresh != old_refresh:
        _store(token, refresh_token=new_refresh)
    try:
        claims: EveClaims | None = verify_access_token(response.access_token)
    except (SSOUnavailable, RedisUnavailable):
        # SSO's keys cannot be had now; the token came straight from SSO's token endpoint.
        logger.warning("Storing the refreshed token %s unverified: EVE SSO's signing keys are unavailable", token.pk)
        claims = None
    if claims is not None and claims.character_id != token.character_id:
        raise SSOError(
            f"EVE SSO refreshed {_describe(token)} with a token of character {claims.character_id}; only its "
            "refresh token was stored. Log the character in again if this repeats."
        )
    if claims is not None and claims.owner_hash != token.character_owner_hash:
        remove_other_owners(claims.character_id, claims.owner_hash)
        raise TokenInvalidError(
            f"Character {token.character_id} ({token.character_name}) now belongs to another EVE account; "
            "its tokens of the previous owner were deleted. The new owner must log in."
        )
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


#: Longest lifetime believed from ``expires_in`` for an access token stored unverified.
MAX_UNVERIFIED_LIFETIME = 1200


def _refused(token: Token, sent: str, exc: TokenInvalidError, *, lock_lost: bool) -> None:
    """SSO refused ``sent``: delete the token, unless the row moved on or another refresh may run."""
    row = type(token).objects.filter(pk=token.pk).values_list("refresh_token", "updated").first()
    if row is not None and row[0] != sent:
        _reload(token)  # another process stored a newer refresh token meanwhile: that one counts
        raise SSOUnavailable(f"{_describe(token)} was refreshed by another process meanwhile; try again.")
    if lock_lost:
        raise SSOUnavailable(
            f"EVE SSO refused the refresh of {_describe(token)} after its lock expired: another refresh may hold "
            "the new token. The token was kept; try again."
        )
    if row is not None and not _delete(token, "invalid_grant", updated=row[1]):
        _reload(token)  # changed between the read and the delete: the newer row counts
        raise SSOUnavailable(f"{_describe(token)} was refreshed by another process meanwhile; try again.")
    raise TokenInvalidError(f"{_describe(token)} was deleted: {exc}") from None


def _store(token: Token, **fields: Any) -> None:
    """Write ``fields`` (tokens and expiry together) in one UPDATE, then onto ``token``.

    A dropped database connection is met by a few attempts: SSO's answer must not be lost.
    """
    fields["updated"] = timezone.now()
    for attempt in range(1, STORE_ATTEMPTS + 1):
        try:
            with transaction.atomic(using=router.db_for_write(type(token))):
                updated = type(token).objects.filter(pk=token.pk).update(**fields)
            break
        except DatabaseError as exc:
            if attempt == STORE_ATTEMPTS:
                logger.error("Could not store the refresh of token %s (%s)", token.pk, type(exc).__name__)
                raise
            close_old_connections()
            time.sleep(0.2 * attempt)
    if not updated:
        raise TokenInvalidError(f"{_describe(token)} was deleted while it was being refreshed.")
    for name, value in fields.items():
        setattr(token, name, value)


def _delete(token: Token, reason: str, updated: dt.datetime | None = None) -> bool:
    """Delete the token (only if its row was last written at ``updated``, when given); whether it was."""
    from esi.signals import token_invalidated

    pk = token.pk
    if updated is not None:
        deleted, _ = type(token).objects.filter(pk=pk, updated=updated).delete()
        if not deleted:
            return False
    else:
        token.delete()
    logger.info("Deleted token %s of character %s (%s)", pk, token.character_id, reason)
    token_invalidated.send(sender=type(token), token=token, token_id=pk, character_id=token.character_id, reason=reason)
    return True


def remove_other_owners(character_id: int, owner_hash: str) -> list[int]:
    """Delete the character's tokens of any other owner hash (the character was transferred)."""
    from esi.models import Token
    from esi.signals import token_owner_changed

    stale = list(Token.objects.filter(character_id=character_id).exclude(character_owner_hash=owner_hash))
    if not stale:
        return []
    removed = [t.pk for t in stale]
    old_hashes = sorted({t.character_owner_hash for t in stale})
    for token in stale:
        _delete(token, "owner_changed")
    logger.warning(
        "Character %s changed owner: deleted %d token(s) of the previous owner(s)", character_id, len(removed)
    )
    token_owner_changed.send(
        sender=Token, character_id=character_id, old_owner_hashes=old_hashes, new_owner_hash=owner_hash, removed=removed
    )
    return removed


def _scopes(names: Iterable[str]) -> list[Any]:
    from esi.models import Scope

    return [Scope.objects.get_or_create(name=name, defaults={"help_text": ""})[0] for name in names]


def store_login(response: TokenResponse, claims: EveClaims, user: Any = None) -> tuple[Token, bool]:
    """Store the tokens of a verified login; returns ``(token, created)``.

    An equivalent token (same character, owner, exact scopes, same user) is reused and updated
    unless ``ESI_ALWAYS_CREATE_TOKEN``; tokens of a previous owner of the character are removed.
    """
    from esi.models import Token
    from esi.signals import token_created

    remove_other_owners(claims.character_id, claims.owner_hash)
    user_id = user.pk if user is not None and getattr(user, "is_authenticated", False) else None
    existing = None
    if not esi_settings.ESI_ALWAYS_CREATE_TOKEN:
        existing = (
            Token.objects.filter(
                character_id=claims.character_id, character_owner_hash=claims.owner_hash, user_id=user_id
            )
            .require_scopes_exact(list(claims.scopes))
            .order_by("-pk")
            .first()
        )
    fields = {
        "access_token": response.access_token,
        "access_token_expires": claims.expires,
        "character_name": claims.character_name,
    }
    if existing is not None:
        with _locked(existing.pk, f"Timed out waiting for a refresh of token {existing.pk}; log in again."):
            refresh = response.refresh_token or existing.refresh_token
            Token.objects.filter(pk=existing.pk).update(**fields, refresh_token=refresh, updated=timezone.now())
            existing.refresh_from_db()
        token, created = existing, False
    else:
        with transaction.atomic(using=router.db_for_write(Token)):
            token = Token.objects.create(
                **fields,
                refresh_token=response.refresh_token,
                character_id=claims.character_id,
                character_owner_hash=claims.owner_hash,
                token_type=Token.TOKEN_TYPE_CHARACTER,
                user_id=user_id,
                sso_version=2,
            )
            token.scopes.set(_scopes(claims.scopes))
        created = True
    logger.info(
        "Stored a token of character %s (%s, %s scope(s), token %s, %s)",
        claims.character_id,
        claims.character_name,
        len(claims.scopes),
        token.pk,
        "new" if created else "reused",
    )
    token_created.send(sender=Token, token=token, new=created)
    return token, created


def revoke(token: Token) -> None:
    """Revoke the token's refresh token at SSO, then delete the token."""
    if token.refresh_token:
        revoke_refresh_token(token.refresh_token)
    if token.pk is not None:
        _delete(token, "revoked")
