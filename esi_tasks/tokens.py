"""Which stored token a fetch uses: explicit ``token_id``, else one of the character named by
the parameters holding every scope the operation needs.

* ``token_id`` given: that token (it must exist and hold the scopes).
* ``character_id`` parameter: the freshest token of that character holding the scopes.
* ``corporation_id`` parameter (and no ``character_id``): a token holding the scopes of a
  character who is a member of that corporation. ``Token`` stores no corporation, so the
  members are found through ESI's public ``PostCharactersAffiliation`` (cached in Redis for
  an hour); in-game roles (``x-required-roles``) cannot be checked in advance, so a token
  without them gets ESI's 403, which is then remembered (see :mod:`esi_tasks.errors_memory`).
* otherwise: pass ``token_id``.

A token whose refresh SSO refuses is skipped (``esi`` deletes it); when none is usable,
:class:`~esi.exceptions.NoTokenError` says what was looked for.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, cast

from esi.client import get_client
from esi.exceptions import NoTokenError
from esi.models import Token
from esi.redis_pool import get_redis, mget
from esi.tokens import Outcome, RefreshResult, refresh
from esi_tasks._keys import PREFIX

__all__ = ["forget_affiliation", "resolve_token", "tokens_for_corporation"]

logger = logging.getLogger(__name__)

AFFILIATION_TTL = 3600
_AFFILIATION_BATCH = 1000  # ESI takes at most 1000 ids per call


def _affiliation_key(character_id: int) -> str:
    return f"{PREFIX}:affiliation:{character_id}"


def _first_usable(candidates: Any, what: str, scopes: list[str]) -> Token:
    """The first candidate whose access token is (made) valid; by :mod:`esi.tokens`' policy a
    token that fails is skipped, and SSO or Redis trouble is raised once no candidate worked."""
    unavailable: RefreshResult | None = None
    for token in candidates:
        result = refresh(token)
        if result.ok:
            return cast("Token", token)
        if result.outcome is Outcome.UNAVAILABLE:
            unavailable = result
        else:
            logger.info("Token %s of character %s skipped: %s", token.pk, token.character_id, result.error)
    if unavailable is not None:
        unavailable.raise_error()  # SSO trouble is worth a retry, unlike a missing token
    raise NoTokenError(
        f"No usable token of {what} holds the scopes {', '.join(scopes)}. "
        "Ask the character to log in with these scopes, or pass token_id=..."
    )


def resolve_token(operation: Any, params: Mapping[str, Any], token_id: int | None = None) -> Token | None:
    """The token to call ``operation`` (a spec ``Operation``) with, or ``None`` for a public call."""
    scopes: list[str] = list(operation.scopes or [])
    if token_id is not None:
        try:
            token = Token.objects.prefetch_related("scopes").get(pk=token_id)
        except (Token.DoesNotExist, ValueError, TypeError):
            raise NoTokenError(f"There is no token with id {token_id!r}; it may have been deleted or revoked.")
        missing = sorted(set(scopes) - set(token.scope_names))
        if missing:
            raise NoTokenError(
                f"Token {token_id} (character {token.character_id}) lacks the scope(s) {', '.join(missing)} "
                f"that {operation.id} needs; log in again with them or use another token."
            )
        return cast("Token", token)
    if not scopes:
        return None
    base = Token.objects.require_scopes(scopes).prefetch_related("scopes").order_by("-access_token_expires", "-pk")
    if params.get("character_id") is not None:
        character_id = int(params["character_id"])
        return _first_usable(base.filter(character_id=character_id), f"character {character_id}", scopes)
    if params.get("corporation_id") is not None:
        corporation_id = int(params["corporation_id"])
        members = tokens_for_corporation(base, corporation_id)
        return _first_usable(members, f"a member of corporation {corporation_id}", scopes)
    raise NoTokenError(
        f"{operation.id} needs the scope(s) {', '.join(scopes)} and has no character_id or corporation_id "
        "parameter to pick a token by; pass token_id=..."
    )


def _affiliations(character_ids: list[int]) -> dict[int, int]:
    """character id -> corporation id, from Redis or ESI's public affiliation route."""
    r = get_redis()
    keys = [_affiliation_key(cid) for cid in character_ids]
    cached = mget(r, keys)  # one MGET per slot on a cluster
    out: dict[int, int] = {}
    missing: list[int] = []
    for cid, raw in zip(character_ids, cached, strict=True):
        if raw is None:
            missing.append(cid)
        else:
            out[cid] = int(raw)
    client = get_client()
    for start in range(0, len(missing), _AFFILIATION_BATCH):
        batch = missing[start : start + _AFFILIATION_BATCH]
        rows = client.call("PostCharactersAffiliation", body=batch).data or []
        pipe = r.pipeline()
        for row in rows:
            out[int(row["character_id"])] = int(row["corporation_id"])
            pipe.set(_affiliation_key(row["character_id"]), int(row["corporation_id"]), ex=AFFILIATION_TTL)
        pipe.execute()
    return out


def tokens_for_corporation(tokens: Any, corporation_id: int) -> list[Token]:
    """The tokens of ``tokens`` (a queryset) whose character is in ``corporation_id`` now."""
    candidates = list(tokens)
    character_ids = sorted({t.character_id for t in candidates})
    if not character_ids:
        return []
    corp_of = _affiliations(character_ids)
    return [t for t in candidates if corp_of.get(t.character_id) == corporation_id]


def forget_affiliation(character_id: int) -> None:
    """Forget the cached corporation of ``character_id`` (e.g. after it changed corporation)."""
    get_redis().delete(_affiliation_key(character_id))
