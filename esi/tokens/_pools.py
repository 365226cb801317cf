"""Token pools: the characters of one corporation serve its secured routes in turn.

A corporation route (``x-required-roles`` in the spec) needs a member's token holding the scope
*and* an in-game role that cannot be seen in advance. A :class:`Pool` is one corporation and one
operation; :func:`pick_from_pool` chooses among the candidate tokens (the caller's: members of the
corporation holding the scopes, tokens their owner may use) so that

* every worker agrees on whose turn it is: a counter per corporation and operation in Redis;
  one character keeps the turn for the same request for :attr:`Pool.turn_seconds` (about the
  route's cache lifetime, so the cached answer keeps being used instead of asking ESI again
  with the next character), then the next character takes it — spreading the per-character
  rate-limit budgets of many directors;
* a character ESI refused (:func:`refuse_in_pool`, after a 403) is skipped for the same corporation and
  roles for ``ESI_TOKEN_POOL_REFUSAL_TIMEOUT`` seconds, then tried again;
* when no character is left, :class:`~esi.exceptions.NoCorporationTokenError` says which
  corporation, operation, roles and scopes, who was refused and what to do.

The Redis state is bookkeeping: when Redis does not answer, the first candidate serves and
nothing is remembered. Keys share the corporation's hash tag (one slot on a cluster).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from esi.app_settings import esi_settings
from esi.exceptions import NoCorporationTokenError
from esi.redis_pool import REDIS_ERRORS, get_redis, mget, unavailable
from esi.tokens._outcome import Outcome, RefreshResult
from esi.tokens._refresh import refresh

if TYPE_CHECKING:
    from esi.models import Token

__all__ = ["Pool", "forget_refusals", "none_can_serve", "pick_from_pool", "pool_refusals", "refuse_in_pool"]

logger = logging.getLogger("esi.tokens")

_PREFIX = "esi:pool"
_COUNTER_TTL = 7 * 24 * 3600  # an idle pool's counter goes away

# The turn of one request: the character index it holds, else the next one of the pool's counter.
_TURN = """
local turn = redis.call('GET', KEYS[1])
if turn and ARGV[3] ~= '1' then return tonumber(turn) end
turn = redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[2])
redis.call('SET', KEYS[1], turn, 'PX', ARGV[1])
return turn
"""


@dataclass(frozen=True)
class Pool:
    """One corporation's tokens for one operation: what the operation needs and how long a turn lasts."""

    corporation_id: int
    operation: str
    roles: tuple[str, ...] = ()  # x-required-roles: any one of them is enough
    scopes: tuple[str, ...] = ()
    turn_seconds: float = 300.0

    @property
    def role_set(self) -> str:
        """What a refusal is remembered for: the roles (a character lacking Director lacks it for
        every route that needs it), or the operation when the spec names none."""
        return "+".join(sorted(self.roles)) if self.roles else f"op={self.operation}"

    def _key(self, *parts: Any) -> str:
        return ":".join((f"{_PREFIX}:{{{self.corporation_id}}}", *map(str, parts)))


def _refused_key(pool: Pool, character_id: int) -> str:
    return pool._key("refused", character_id, pool.role_set)


def pool_refusals(pool: Pool, character_ids: Sequence[int]) -> dict[int, str]:
    """character id -> ESI's reason, for the characters of ``character_ids`` still refused."""
    if not character_ids:
        return {}
    try:
        raw = mget(get_redis(), [_refused_key(pool, cid) for cid in character_ids])
    except REDIS_ERRORS as exc:  # bookkeeping: without the memory, every candidate is tried
        logger.warning("Token pool of corporation %s: refusals not read (%s)", pool.corporation_id, type(exc).__name__)
        return {}
    return {cid: value.decode() for cid, value in zip(character_ids, raw, strict=True) if value is not None}


def refuse_in_pool(pool: Pool, character_id: int, reason: str) -> bool:
    """Skip ``character_id`` in ``pool`` (and every pool of the same corporation and roles) for
    ``ESI_TOKEN_POOL_REFUSAL_TIMEOUT`` seconds; whether it was remembered."""
    timeout = int(esi_settings.ESI_TOKEN_POOL_REFUSAL_TIMEOUT)
    logger.warning(
        "Token pool of corporation %s: character %s refused for %s (%s); skipped for %s s",
        pool.corporation_id,
        character_id,
        pool.operation,
        reason,
        timeout,
    )
    if timeout <= 0:
        return False
    try:
        get_redis().set(_refused_key(pool, character_id), reason[:500], ex=timeout)
    except REDIS_ERRORS as exc:
        logger.warning("Token pool refusal of %s not remembered: Redis did not answer (%s)", character_id, exc)
        return False
    return True


def forget_refusals(corporation_id: int, character_id: int | None = None) -> int:
    """Forget the remembered refusals of ``corporation_id`` (of one character, if given), e.g. once a
    role was granted in game; how many were forgotten. Raises ``RedisUnavailable`` if Redis is away."""
    pattern = Pool(corporation_id, "")._key("refused", character_id if character_id is not None else "*", "*")
    with unavailable("forgetting token pool refusals"):
        r = get_redis()
        keys = list(r.scan_iter(match=pattern, count=500))
        return int(r.delete(*keys)) if keys else 0


@lru_cache(maxsize=8)  # one per process's Redis client (get_redis() is per process)
def _turn_script(client: Any) -> Any:
    return client.register_script(_TURN)


def _turn(pool: Pool, request: str, advance: bool) -> int:
    """The pool's turn for ``request`` (shared by every worker); 0 when Redis does not answer."""
    try:
        script = _turn_script(get_redis())
        keys = [pool._key("turn", pool.operation, request), pool._key("counter", pool.operation)]
        args = [max(1, int(pool.turn_seconds * 1000)), _COUNTER_TTL, "1" if advance else "0"]
        return int(script(keys=keys, args=args))
    except REDIS_ERRORS as exc:
        logger.warning("Token pool of corporation %s: no shared turn (%s)", pool.corporation_id, type(exc).__name__)
        return 0


def _by_character(candidates: Iterable[Token]) -> dict[int, list[Token]]:
    """The candidates grouped by character (sorted), each group in the order given (freshest first)."""
    groups: dict[int, list[Token]] = {}
    for token in candidates:
        groups.setdefault(int(token.character_id), []).append(token)
    return dict(sorted(groups.items()))


def pick_from_pool(
    pool: Pool,
    candidates: Iterable[Token],
    request: str = "",
    *,
    advance: bool = False,
    exclude: Iterable[int] = (),
) -> Token:
    """The token whose turn it is in ``pool`` for ``request`` (a digest of the call's values),
    refreshed; ``advance`` passes the turn on at once (a forced refresh). Characters of ``exclude``
    and remembered refusals are skipped; a token whose refresh fails hands over to the next character.

    Raises ``NoCorporationTokenError``, or ``SSOUnavailable``/``RedisUnavailable`` when SSO trouble
    left no candidate (worth a retry, unlike a missing token)."""
    groups = _by_character(candidates)
    skipped = set(exclude)
    refused = pool_refusals(pool, list(groups))
    eligible = [cid for cid in groups if cid not in skipped and cid not in refused]
    unavailable: RefreshResult | None = None
    if eligible:
        start = _turn(pool, request, advance) % len(eligible)
        for cid in eligible[start:] + eligible[:start]:
            for token in groups[cid]:
                result = refresh(token)
                if result.ok:
                    return token
                if result.outcome is Outcome.UNAVAILABLE:
                    unavailable = result
                else:
                    logger.info("Token %s of character %s left out of the pool: %s", token.pk, cid, result.error)
    if unavailable is not None:
        unavailable.raise_error()
    refused = {**{cid: "refused" for cid in skipped if cid in groups}, **refused}
    raise none_can_serve(pool, members=len(groups), refused=refused)


def none_can_serve(pool: Pool, *, members: int, refused: dict[int, str]) -> NoCorporationTokenError:
    """The error (and its log line) for a pool left without a character."""
    roles = f" and one of the in-game roles {', '.join(pool.roles)}" if pool.roles else ""
    holder = f"a member holding one of {', '.join(pool.roles)}" if pool.roles else "a member"
    scopes = ", ".join(pool.scopes)
    if not members:
        found = f"no member of the corporation has a stored token with the scope(s). Have {holder} log in with {scopes}"
    elif refused:
        seconds = int(esi_settings.ESI_TOKEN_POOL_REFUSAL_TIMEOUT)
        found = (
            f"{members} member(s) hold the scope(s), but ESI refused character(s) "
            f"{', '.join(map(str, sorted(refused)))} ({next(iter(refused.values()))}); they are skipped for up to "
            f"{seconds} s. Grant the role in game and call esi.tokens.forget_refusals({pool.corporation_id}), "
            f"or have {holder} log in with {scopes}"
        )
    else:
        found = (
            f"the token(s) of its {members} member(s) with the scope(s) could not be refreshed; have them log in again"
        )
    message = (
        f"No character of corporation {pool.corporation_id} can serve {pool.operation}: it needs the scope(s) "
        f"{scopes}{roles}; {found} (or pass token_id=...)."
    )
    logger.warning("%s", message)
    return NoCorporationTokenError(
        message,
        corporation_id=pool.corporation_id,
        operation=pool.operation,
        roles=pool.roles,
        scopes=pool.scopes,
        refused=tuple(sorted(refused)),
    )
