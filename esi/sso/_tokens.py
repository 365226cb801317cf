"""Stored tokens and SSO: refresh once for all workers, store logins, follow ownership changes.

Refresh safety: a refresh runs under a Redis lock per token (redis-py's ``Lock``, held across
processes and hosts). Whoever waited for the lock re-reads the row first: if another process
refreshed meanwhile, its result is used and SSO is not asked again. The new access token and a
rotated refresh token are written by one UPDATE, so they are never seen apart.

Failures: ``invalid_grant`` deletes the token and sends ``token_invalidated`` (a dead refresh
token cannot come back; keeping it would only make every sweep fail again). SSO errors and
timeouts leave the row untouched and raise ``SSOUnavailable``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from django.db import router, transaction
from django.utils import timezone
from redis.exceptions import LockError

from esi.app_settings import esi_settings
from esi.exceptions import (
    JWTValidationError,
    NotRefreshableError,
    SSOError,
    SSOUnavailable,
    TokenError,
    TokenInvalidError,
)
from esi.redis import get_redis
from esi.sso._jwt import EveClaims, verify_access_token
from esi.sso._oauth import TokenResponse, refresh_access_token, revoke_refresh_token

if TYPE_CHECKING:
    from redis.lock import Lock

    from esi.models import Token

__all__ = ["LOCK_TIMEOUT", "LOCK_WAIT", "ensure_fresh", "remove_other_owners", "revoke", "store_login", "token_lock"]

logger = logging.getLogger(__name__)

#: Least seconds a refresh may hold a token's lock; more when the timeouts and retries need it.
LOCK_TIMEOUT = 60
#: Least seconds a caller waits for another process's refresh of the same token.
LOCK_WAIT = 60


def _lock_timeout() -> float:
    """Longer than the slowest refresh the settings allow (every attempt timing out, plus backoff).

    Were the lock to expire during a refresh, a second process could send the same refresh
    token again and SSO, having rotated it, would refuse it: the token would be lost.
    """
    s = esi_settings
    attempts = max(0, int(s.ESI_SERVER_ERROR_MAX_RETRIES)) + 1
    per_attempt = sum(
        float(x)
        for x in (
            s.ESI_REQUESTS_CONNECT_TIMEOUT,
            s.ESI_REQUESTS_READ_TIMEOUT,
            s.ESI_REQUESTS_WRITE_TIMEOUT,
            s.ESI_REQUESTS_POOL_TIMEOUT,
        )
    )
    backoff = sum(float(s.ESI_SERVER_ERROR_WAIT_EXPONENT) * 2**n for n in range(attempts))
    # twice: the refresh itself, then fetching SSO's keys to verify the new access token
    timeout: float = max(float(LOCK_TIMEOUT), 2 * (attempts * per_attempt + backoff) + 10)
    return timeout


def token_lock(pk: int) -> Lock:
    """The cross-process lock guarding one token's refresh token."""
    timeout = _lock_timeout()
    lock: Lock = get_redis().lock(f"esi:token-lock:{pk}", timeout=timeout, blocking_timeout=max(LOCK_WAIT, timeout))
    return lock


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
    with _locked(token.pk, f"Gave up waiting for another process to refresh {_describe(token)}; try again."):
        _reload(token)
        someone_else_refreshed = token.access_token != seen
        if not token.needs_refresh and (not force or someone_else_refreshed):
            return
        if not token.refresh_token:
            raise NotRefreshableError(f"{_describe(token)} lost its refresh token; log the character in again.")
        _refresh_locked(token)


@contextlib.contextmanager
def _locked(pk: int, busy: str) -> Iterator[None]:
    """Hold token ``pk``'s refresh lock; ``SSOUnavailable(busy)`` if it cannot be had in time."""
    lock = token_lock(pk)
    if not lock.acquire():
        raise SSOUnavailable(busy)
    try:
        yield
    finally:
        try:
            lock.release()
        except LockError:  # expired meanwhile: the work took longer than the lock's timeout
            logger.warning("The refresh lock of token %s expired before it was released", pk)


def _refresh_locked(token: Token) -> None:
    from esi.signals import token_refreshed

    old_refresh = token.refresh_token or ""
    try:
        response = refresh_access_token(old_refresh)
    except TokenInvalidError as exc:
        _delete(token, "invalid_grant")
        raise TokenInvalidError(f"{_describe(token)} was deleted: {exc}") from None
    # From here on SSO may have rotated the refresh token: the new one must not be lost.
    new_refresh = response.refresh_token or old_refresh
    try:
        claims: EveClaims | None = verify_access_token(response.access_token)
    except SSOUnavailable:
        # SSO's keys cannot be fetched now; the token came straight from SSO's token endpoint.
        logger.warning("Storing the refreshed token %s unverified: EVE SSO's signing keys are unavailable", token.pk)
        claims = None
    except JWTValidationError:
        _store(token, refresh_token=new_refresh)  # keep the refresh token alive, not the access token
        raise
    if claims is not None and claims.character_id != token.character_id:
        raise SSOError(
            f"EVE SSO refreshed {_describe(token)} with a token of character {claims.character_id}; nothing stored."
        )
    if claims is not None and claims.owner_hash != token.character_owner_hash:
        remove_other_owners(claims.character_id, claims.owner_hash)
        raise TokenInvalidError(
            f"Character {token.character_id} ({token.character_name}) now belongs to another EVE account; "
            "its tokens of the previous owner were deleted. The new owner must log in."
        )
    expires = claims.expires if claims else timezone.now() + dt.timedelta(seconds=response.expires_in)
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


def _store(token: Token, **fields: Any) -> None:
    """Write ``fields`` (tokens and expiry together) in one UPDATE, then onto ``token``."""
    fields["updated"] = timezone.now()
    with transaction.atomic(using=router.db_for_write(type(token))):
        updated = type(token).objects.filter(pk=token.pk).update(**fields)
    if not updated:
        raise TokenInvalidError(f"{_describe(token)} was deleted while it was being refreshed.")
    for name, value in fields.items():
        setattr(token, name, value)


def _delete(token: Token, reason: str) -> None:
    from esi.signals import token_invalidated

    pk = token.pk
    token.delete()
    logger.info("Deleted token %s of character %s (%s)", pk, token.character_id, reason)
    token_invalidated.send(sender=type(token), token=token, token_id=pk, character_id=token.character_id, reason=reason)


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
