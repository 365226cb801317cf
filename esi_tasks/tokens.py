"""Which stored token a fetch uses: explicit ``token_id``, else one of the character named by
the parameters holding every scope the operation needs.

* ``token_id`` given: that token (it must exist and hold the scopes).
* ``character_id`` parameter: the freshest token of that character holding the scopes.
* ``corporation_id`` parameter (and no ``character_id``): the corporation's token pool
  (:mod:`esi.tokens._pools`, ``docs/token-pools.md``): the members of the corporation holding
  the scopes take turns. ``Token`` stores no corporation, so the members are found through
  ESI's public ``PostCharactersAffiliation`` (cached in Redis for an hour). In-game roles
  (``x-required-roles``) cannot be checked in advance: when ESI answers 403, :func:`serve_pooled`
  remembers the refusal and tries the next member in the same fetch; when none is left,
  :class:`~esi.exceptions.NoCorporationTokenError` names what is needed.
* otherwise: pass ``token_id``.

A token whose refresh SSO refuses is skipped (``esi`` deletes it); when none is usable,
:class:`~esi.exceptions.NoTokenError` says what was looked for.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any, TypeVar, cast

from esi.client import Operation, get_client
from esi.exceptions import EsiForbidden, NoTokenError
from esi.models import Token
from esi.redis_pool import REDIS_ERRORS, get_redis, mget
from esi.tokens import Outcome, Pool, RefreshResult, pick_from_pool, refresh, refuse_in_pool
from esi_tasks._keys import PREFIX, digest

__all__ = [
    "forget_affiliation",
    "pool_of",
    "pooled_token",
    "required_roles",
    "resolve_token",
    "serve_pooled",
    "tokens_for_corporation",
]

_F = TypeVar("_F")
_T = TypeVar("_T")
_POOL = "_esi_pool"  # the Pool a token was picked from, on the picked instance only
_LONGEST_TURN = 3600.0

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


def _holding(scopes: list[str]) -> Any:
    """Stored tokens holding every scope of ``scopes``, freshest first."""
    return Token.objects.require_scopes(scopes).prefetch_related("scopes").order_by("-access_token_expires", "-pk")


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
    base = _holding(scopes)
    if params.get("character_id") is not None:
        character_id = int(params["character_id"])
        return _first_usable(base.filter(character_id=character_id), f"character {character_id}", scopes)
    if params.get("corporation_id") is not None:
        return pooled_token(operation, params, base)
    raise NoTokenError(
        f"{operation.id} needs the scope(s) {', '.join(scopes)} and has no character_id or corporation_id "
        "parameter to pick a token by; pass token_id=..."
    )


def required_roles(operation: Operation) -> tuple[str, ...]:
    """The in-game roles (``x-required-roles``: any one is enough) of ``operation``'s route, as the
    default view's document lists them (roles belong to the route, not to a compatibility date)."""
    doc = get_client().spec.document
    raw = ((doc.get("paths") or {}).get(operation.path) or {}).get(operation.method) or {}
    return tuple(str(role) for role in raw.get("x-required-roles") or ())


def pooled_token(operation: Operation, params: Mapping[str, Any], base: Any, exclude: Iterable[int] = ()) -> Token:
    """The token of the corporation's pool whose turn it is for this call (see :mod:`esi.tokens._pools`)."""
    corporation_id = int(params["corporation_id"])
    pool = Pool(
        corporation_id,
        operation.id,
        roles=required_roles(operation),
        scopes=tuple(operation.scopes or ()),
        turn_seconds=min(float(operation.cache_age or 300), _LONGEST_TURN),
    )
    request = digest(operation.id, {k: v for k, v in params.items() if k != "page"})
    token = pick_from_pool(pool, tokens_for_corporation(base, corporation_id), request, exclude=exclude)
    setattr(token, _POOL, pool)
    return token


def pool_of(token: Token | None) -> Pool | None:
    """The pool ``token`` was picked from by :func:`resolve_token`, or None (named or character tokens)."""
    return getattr(token, _POOL, None) if token is not None else None


def serve_pooled(fetch: _F, attempt: Callable[[_F], _T]) -> _T:
    """``attempt(fetch)``; when ``fetch`` (a ``PreparedFetch``) uses a pooled token and ESI answers
    403 (from the cache or not), the character is refused in its pool, the next member's token is
    prepared and attempted, until one serves or :class:`~esi.exceptions.NoCorporationTokenError`."""
    tried: list[int] = []
    while True:
        try:
            return attempt(fetch)
        except EsiForbidden as exc:
            token: Token | None = getattr(fetch, "token", None)
            pool = pool_of(token)
            if pool is None or token is None:
                raise
            reason = exc.body.get("error") if isinstance(exc.body, dict) else None
            refuse_in_pool(pool, token.character_id, str(reason or f"403 from {pool.operation}"))
            forget_affiliation(token.character_id)  # a 403 may also mean it left the corporation
            tried.append(token.character_id)
            fetch = _with_next_token(fetch, tried)


def _with_next_token(fetch: Any, tried: list[int]) -> Any:
    """``fetch`` prepared again with the pool's next token, leaving out the characters ``tried``."""
    call = fetch.call
    op = call.operation
    token = pooled_token(op, call.values, _holding(list(op.scopes)), exclude=tried)
    again = fetch.client.prepare(
        op.id, token=token, language=call.language, force_refresh=call.force_refresh, **fetch.params
    )
    return replace(fetch, call=again, token=token)


def _affiliations(character_ids: list[int]) -> dict[int, int]:
    """character id -> corporation id, from Redis or ESI's public affiliation route (the Redis
    copy is bookkeeping: when Redis does not answer, ESI is asked and nothing is kept)."""
    keys = [_affiliation_key(cid) for cid in character_ids]
    try:
        cached = mget(get_redis(), keys)  # one MGET per slot on a cluster
    except REDIS_ERRORS as exc:
        logger.warning("Cached affiliations not read: Redis did not answer (%s)", type(exc).__name__)
        cached = [None] * len(keys)
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
        found = {int(row["character_id"]): int(row["corporation_id"]) for row in rows}
        out.update(found)
        _keep_affiliations(found)
    return out


def _keep_affiliations(found: Mapping[int, int]) -> None:
    try:
        pipe = get_redis().pipeline()
        for cid, corporation_id in found.items():
            pipe.set(_affiliation_key(cid), corporation_id, ex=AFFILIATION_TTL)
        pipe.execute()
    except REDIS_ERRORS as exc:
        logger.warning("Affiliations not cached: Redis did not answer (%s)", type(exc).__name__)


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
    try:
        get_redis().delete(_affiliation_key(character_id))
    except REDIS_ERRORS as exc:  # bookkeeping: the cached affiliation expires by itself
        logger.warning("Affiliation of character %s not forgotten: Redis did not answer (%s)", character_id, exc)
