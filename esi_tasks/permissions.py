"""Who may schedule which ESI operation with which token (the write policy of schedules).

* A *write* is an operation that changes game state: every POST/PUT/DELETE except the read-only
  lookups (``PostUniverseNames``...), i.e. whatever :func:`esi.client.is_retry_safe` refuses.
  Scheduling one from the admin (adding, changing, enabling or running it) needs
  :data:`WRITE_PERMISSION`; a write is never kept fresh, and never retried (see
  :mod:`esi_tasks.base`).
* A schedule may use only a token its editor may use: one of the editor's own tokens
  (``Token.user``), or any token with :data:`ANY_TOKEN_PERMISSION`. Without that permission a
  schedule that names no token gets one of the editor's tokens pinned when it is saved, so beat
  never picks another user's token for it later.

Code that calls ``fetch_endpoint`` or creates an ``EndpointSchedule`` itself is trusted: these
checks guard what people do in the admin. See ``docs/security.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from esi.client import Operation, get_client, is_retry_safe
from esi.exceptions import EsiRequestError
from esi.models import Token

if TYPE_CHECKING:
    from esi_tasks.models import EndpointSchedule

__all__ = [
    "ANY_TOKEN_PERMISSION",
    "WRITE_PERMISSION",
    "check_schedule",
    "is_write",
    "may_use_token",
    "refusal",
]

WRITE_PERMISSION = "esi_tasks.schedule_write_operations"
ANY_TOKEN_PERMISSION = "esi_tasks.use_any_token"


def is_write(op: Operation) -> bool:
    """Whether ``op`` changes game state (mail, contacts, fleets, fittings...)."""
    return not is_retry_safe(op)


def may_use_token(user: Any, token: Token) -> bool:
    """Whether ``user`` may have a schedule call ESI with ``token``."""
    if user.has_perm(ANY_TOKEN_PERMISSION):
        return True
    return token.user_id is not None and token.user_id == user.pk


def _write_refused(op: Operation) -> str:
    return (
        f"{op.id} changes game state ({op.method.upper()}); scheduling it needs the permission "
        f"{WRITE_PERMISSION!r}. Ask an administrator, or call it from code."
    )


def _token_refused(token: Token) -> str:
    return (
        f"Token {token.pk} (character {token.character_id}) belongs to another user; pick one of your own "
        f"tokens, or ask for the permission {ANY_TOKEN_PERMISSION!r}."
    )


def check_schedule(
    user: Any, op: Operation, params: Mapping[str, Any], token: Token | None, kind: str = ""
) -> tuple[Token | None, dict[str, str]]:
    """``(token to pin or None, errors by field)`` for ``user`` saving a schedule of ``op``.

    The token to pin is one of ``user``'s tokens of the ``character_id`` parameter holding the
    scopes, when ``user`` may not use any token and named none.
    """
    errors: dict[str, str] = {}
    if is_write(op):
        if not user.has_perm(WRITE_PERMISSION):
            errors["operation"] = _write_refused(op)
        if kind == "keep_fresh":
            errors["kind"] = f"{op.id} changes game state: it cannot be kept fresh; run it on an interval or crontab."
    scopes = list(op.scopes or [])
    if token is not None:
        if not may_use_token(user, token):
            errors["token"] = _token_refused(token)
        return None, errors
    if not scopes or user.has_perm(ANY_TOKEN_PERMISSION):
        return None, errors
    own = Token.objects.filter(user__pk=user.pk).require_scopes(scopes).order_by("-access_token_expires", "-pk")
    character_id = params.get("character_id")
    pinned = own.filter(character_id=character_id).first() if str(character_id or "").isdigit() else None
    if pinned is None:
        errors["token"] = (
            f"None of your tokens{f' of character {character_id}' if character_id else ''} holds "
            f"{', '.join(scopes)}; pick one of your tokens (or log in with the character), or ask for the "
            f"permission {ANY_TOKEN_PERMISSION!r}."
        )
    return pinned, errors


def refusal(user: Any, schedule: EndpointSchedule) -> str | None:
    """Why ``user`` may not run or enable ``schedule`` from the admin, or None if they may."""
    try:
        op = get_client(schedule.compatibility_date or None).spec.get(schedule.operation)
    except EsiRequestError as exc:
        return str(exc)
    if is_write(op) and not user.has_perm(WRITE_PERMISSION):
        return f"{schedule.name}: {_write_refused(op)}"
    if schedule.token is not None and not may_use_token(user, schedule.token):
        return f"{schedule.name}: {_token_refused(schedule.token)}"
    return None
