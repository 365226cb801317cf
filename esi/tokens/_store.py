"""Storing tokens: a verified login, a deletion with its signal, the owner changes of a character.

The models are reached through the app registry (``apps.get_model``), not imported: ``esi.models``
imports this package, and this package is importable before the apps are ready.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.db import router, transaction
from django.utils import timezone

from esi._crypto import Undecryptable
from esi.app_settings import esi_settings
from esi.exceptions import EsiConfigurationError
from esi.signals import token_created, token_invalidated, token_owner_changed
from esi.sso import EveClaims, TokenResponse, revoke_refresh_token
from esi.tokens._lock import held

if TYPE_CHECKING:
    from esi.models import Scope, Token

__all__ = ["check_readable", "delete_token", "remove_other_owners", "revoke", "store_login"]

logger = logging.getLogger("esi.tokens")


def _token_model() -> type[Token]:
    model: type[Token] = apps.get_model("esi", "Token")
    return model


def check_readable(token: Token) -> None:
    """Never send SSO a refresh token no configured key decrypts: SSO would refuse it and the
    token would be deleted, when putting the old key back would have saved it."""
    if isinstance(token.refresh_token, Undecryptable):
        raise EsiConfigurationError(
            f"The refresh token of token {token.pk} (character {token.character_id}) cannot be decrypted with "
            "the configured keys; put the key it was encrypted with back into ESI_TOKEN_ENCRYPTION_KEYS "
            "(or SECRET_KEY_FALLBACKS)."
        )


def delete_token(token: Token, reason: str, updated: dt.datetime | None = None) -> bool:
    """Delete the token (only if its row was last written at ``updated``, when given) and send
    ``token_invalidated(reason=...)``; whether it was deleted."""
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
    model = _token_model()
    stale = list(model.objects.filter(character_id=character_id).exclude(character_owner_hash=owner_hash))
    if not stale:
        return []
    removed = [t.pk for t in stale]
    old_hashes = sorted({t.character_owner_hash for t in stale})
    for token in stale:
        delete_token(token, "owner_changed")
    logger.warning(
        "Character %s changed owner: deleted %d token(s) of the previous owner(s)", character_id, len(removed)
    )
    token_owner_changed.send(
        sender=model, character_id=character_id, old_owner_hashes=old_hashes, new_owner_hash=owner_hash, removed=removed
    )
    return removed


def _scopes(names: Iterable[str]) -> list[Scope]:
    model: type[Scope] = apps.get_model("esi", "Scope")
    return [model.objects.get_or_create(name=name, defaults={"help_text": ""})[0] for name in names]


def store_login(response: TokenResponse, claims: EveClaims, user: Any = None) -> tuple[Token, bool]:
    """Store the tokens of a verified login; returns ``(token, created)``.

    An equivalent token (same character, owner, exact scopes, same user) is reused and updated
    unless ``ESI_ALWAYS_CREATE_TOKEN``; tokens of a previous owner of the character are removed.
    """
    model = _token_model()
    remove_other_owners(claims.character_id, claims.owner_hash)
    user_id = user.pk if user is not None and getattr(user, "is_authenticated", False) else None
    existing = None
    if not esi_settings.ESI_ALWAYS_CREATE_TOKEN:
        existing = (
            model.objects.filter(
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
        with held(existing.pk, f"Timed out waiting for a refresh of token {existing.pk}; log in again."):
            refresh = response.refresh_token or existing.refresh_token
            model.objects.filter(pk=existing.pk).update(**fields, refresh_token=refresh, updated=timezone.now())
            existing.refresh_from_db()
        token, created = existing, False
    else:
        with transaction.atomic(using=router.db_for_write(model)):
            token = model.objects.create(
                **fields,
                refresh_token=response.refresh_token,
                character_id=claims.character_id,
                character_owner_hash=claims.owner_hash,
                token_type=model.TOKEN_TYPE_CHARACTER,
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
    token_created.send(sender=model, token=token, new=created)
    return token, created


def revoke(token: Token) -> None:
    """Revoke the token's refresh token at SSO, then delete the token."""
    check_readable(token)
    if token.refresh_token:
        revoke_refresh_token(str(token.refresh_token))
    if token.pk is not None:
        delete_token(token, "revoked")
