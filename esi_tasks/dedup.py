"""De-duplication of identical fetches that are queued or running, through Redis.

Two claims, both ``SET NX`` with a TTL, valued ``"<task id> <unix time claimed>"``:

* **queued** (``esi_tasks:dedup:q:<fetch>``): taken by ``fetch_endpoint.apply_async`` (so
  ``.delay``) for :data:`PENDING_TTL` seconds, marked pending (shared with nobody), and given its
  full lifetime and shared only once the broker confirmed the message. A second identical
  ``.delay`` while the first is queued or running gets the *first task's*
  :class:`~celery.result.AsyncResult` back (same task id, logged with the claim's age):
  ``.get()`` returns the same data, or raises the same error. Refreshed when the task starts,
  follows a re-queued message, dropped when the task finishes, is rejected or expires.
* **running** (``esi_tasks:dedup:r:<fetch>``): taken by the worker right before it calls ESI.
  A copy that reaches a worker while another identical fetch runs (e.g. sent with ``link=``,
  in a chain, or with an explicit ``task_id``) is re-queued for a second and then, when the
  answer is cacheable, served from the ESI cache the first one filled.

Claims are bookkeeping: a Redis that does not answer skips them (the fetch is sent, unshared)
and a claim that cannot be released expires by itself. Values start with task ids, so a
redelivered task (worker killed mid-task) recognises its own claim. ``manage.py esi_claims``
lists and clears them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

from esi.redis_pool import REDIS_ERRORS, get_redis
from esi_tasks._keys import PREFIX
from esi_tasks._keys import text as _text

__all__ = [  # noqa: RUF022  (plain sorted(), as the API tests pin)
    "Claim",
    "PENDING_TTL",
    "claim",
    "claim_or_holder",
    "claims",
    "confirm",
    "extend",
    "holder",
    "queued_key",
    "release",
    "running_key",
]

logger = logging.getLogger(__name__)

#: Seconds a queued claim lives before the broker confirmed its message.
PENDING_TTL = 30.0

# The claim is ours when its value is our task id, or starts with it and a space.
_OURS = (
    "local v = redis.call('get', KEYS[1]) "
    "if v and (v == ARGV[1] or string.sub(v, 1, #ARGV[1] + 1) == ARGV[1] .. ' ') then "
)
_RELEASE = _OURS + "return redis.call('del', KEYS[1]) end return 0"
_EXTEND = _OURS + "return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
# Confirm a pending claim: its value loses the " pending" mark, its lifetime becomes ARGV[3] ms.
_CONFIRM = _OURS + "return redis.call('set', KEYS[1], ARGV[1] .. ' ' .. ARGV[2], 'PX', ARGV[3]) end return 0"
PENDING_MARK = "pending"
#: Longest seconds a caller waits for an identical fetch's message to be confirmed sent.
PENDING_WAIT = 2.0


@dataclass(frozen=True)
class Claim:
    """One claim as ``esi_claims`` shows it."""

    key: str
    task_id: str
    age: float | None
    ttl: float | None


def queued_key(identity: str) -> str:
    return f"{PREFIX}:dedup:q:{identity}"


def running_key(identity: str) -> str:
    return f"{PREFIX}:dedup:r:{identity}"


def _parse(value: bytes | str) -> tuple[str, float | None]:
    task_id, _, claimed = _text(value).partition(" ")
    claimed = claimed.split(" ", 1)[0]
    try:
        return task_id, max(0.0, time.time() - float(claimed)) if claimed else None
    except ValueError:
        return task_id, None


def _skipped(what: str, key: str, exc: BaseException) -> None:
    logger.warning("Dedup claim %s skipped (%s): Redis did not answer (%s)", what, key, type(exc).__name__)


def claim(key: str, task_id: str, ttl: float) -> str | None:
    """Claim ``key`` for ``task_id``; ``None`` when claimed (or already ours, or Redis did not
    answer: then nothing is shared), else the holder's task id."""
    found = claim_or_holder(key, task_id, ttl)
    return found[0] if found is not None else None


def claim_or_holder(key: str, task_id: str, ttl: float, *, pending: bool = False) -> tuple[str, float | None] | None:
    """As :func:`claim`, with the holder's claim age (seconds, when known).

    ``pending``: the claim is taken before its message is sent, marked so that nobody is handed
    it until :func:`confirm`; a pending claim of someone else is not shared (``None``: send).
    """
    ttl_ms = max(1000, int(ttl * 1000))
    value = f"{task_id} {time.time():.3f}" + (f" {PENDING_MARK}" if pending else "")
    try:
        r = get_redis()
        attempts = 3
        patience = time.monotonic() + PENDING_WAIT
        while attempts > 0:
            if r.set(key, value, nx=True, px=ttl_ms):
                return None
            current = r.get(key)
            if current is None:
                attempts -= 1
                continue  # released between SET and GET: try again
            current_id, age = _parse(current)
            if current_id == task_id:
                r.pexpire(key, ttl_ms)
                return None
            if not _text(current).endswith(f" {PENDING_MARK}"):
                return current_id, age
            if time.monotonic() > patience:
                return None  # never confirmed sent: sharing it could hand out a task that never was
            time.sleep(0.01)  # its message is being sent: share it once the broker has it
    except REDIS_ERRORS as exc:
        _skipped("not taken", key, exc)
    return None  # Redis away, or extreme churn: sending twice is safe


def confirm(key: str, task_id: str, ttl: float) -> bool:
    """The broker has ``task_id``'s message: its pending claim is shared from now on, for ``ttl`` s."""
    try:
        script = get_redis().register_script(_CONFIRM)
        return bool(script(keys=[key], args=[task_id, f"{time.time():.3f}", max(1000, int(ttl * 1000))]))
    except REDIS_ERRORS as exc:
        _skipped("not confirmed (it expires by itself)", key, exc)
        return False


def holder(key: str) -> str | None:
    try:
        value = get_redis().get(key)
    except REDIS_ERRORS as exc:
        _skipped("not read", key, exc)
        return None
    return _parse(value)[0] if value is not None else None


def release(key: str, task_id: str) -> bool:
    """Release ``key`` if ``task_id`` holds it (when Redis does not answer, it expires by itself)."""
    try:
        return bool(get_redis().register_script(_RELEASE)(keys=[key], args=[task_id]))
    except REDIS_ERRORS as exc:
        _skipped("not released (it expires by itself)", key, exc)
        return False


def extend(key: str, task_id: str, ttl: float) -> bool:
    """Keep ``task_id``'s claim for another ``ttl`` seconds from now."""
    try:
        return bool(get_redis().register_script(_EXTEND)(keys=[key], args=[task_id, max(1000, int(ttl * 1000))]))
    except REDIS_ERRORS as exc:
        _skipped("not extended", key, exc)
        return False


def claims() -> Iterator[Claim]:
    """Every dedup claim in Redis (for ``esi_claims``); raises redis errors: it is a command."""
    r = get_redis()
    for key in r.scan_iter(match=f"{PREFIX}:dedup:*", count=500):
        value, pttl = r.get(key), r.pttl(key)
        if value is None:
            continue
        task_id, age = _parse(value)
        yield Claim(_text(key), task_id, age, pttl / 1000 if pttl and pttl > 0 else None)
