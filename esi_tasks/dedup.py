"""De-duplication of identical fetches that are queued or running: claims are redis-py ``Lock``s.

Two claims per fetch identity, each a :class:`ClaimLock` (a ``redis.lock.Lock``: ``SET NX PX`` to take
it, owned release/extend/reacquire in redis-py's own scripts) whose token is
``"<task id> <unix time claimed>"``:

* **queued** (``esi_tasks:dedup:q:<fetch>``): taken by ``fetch_endpoint.apply_async`` (so
  ``.delay``) for :data:`PENDING_TTL` seconds with the token marked ``pending`` (shared with
  nobody), and given its full lifetime and shared only once the broker confirmed the message
  (:meth:`ClaimLock.confirm`, the one step ``Lock`` lacks: an owned swap of the token). A second
  identical ``.delay`` while the first is queued or running gets the *first task's*
  :class:`~celery.result.AsyncResult` back (same task id, logged with the claim's age):
  ``.get()`` returns the same data, or raises the same error. Refreshed when the task starts,
  follows a re-queued message, dropped when the task finishes, is rejected or expires.
  :func:`sending` is this as a context manager.
* **running** (``esi_tasks:dedup:r:<fetch>``): taken by the worker right before it calls ESI
  (:func:`running`). A copy that reaches a worker while another identical fetch runs (e.g. sent
  with ``link=``, in a chain, or with an explicit ``task_id``) is re-queued for a second and then,
  when the answer is cacheable, served from the ESI cache the first one filled.

Claims are bookkeeping: a Redis that does not answer skips them (the fetch is sent, unshared)
and a claim that cannot be released expires by itself. Tokens start with task ids, so code that
knows only the task id (the worker, a revoked/rejected message, a redelivered task) finds its
own claim: :func:`release` and :func:`extend` read the token, then act through ``Lock``, whose
script acts only if the token is still that one. ``manage.py esi_claims`` lists and clears them.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from redis.commands.core import Script
from redis.exceptions import LockError
from redis.lock import Lock

from esi.redis_pool import REDIS_ERRORS, get_redis
from esi_tasks._keys import PREFIX
from esi_tasks._keys import text as _text

__all__ = [  # noqa: RUF022  (plain sorted(), as the API tests pin)
    "Claim",
    "ClaimLock",
    "PENDING_TTL",
    "claim",
    "claim_or_holder",
    "claims",
    "confirm",
    "extend",
    "holder",
    "queued_key",
    "release",
    "running",
    "running_key",
    "sending",
    "serving",
]

logger = logging.getLogger(__name__)

#: Seconds a queued claim lives before the broker confirmed its message.
PENDING_TTL = 30.0
PENDING_MARK = "pending"
#: Longest seconds a caller waits for an identical fetch's message to be confirmed sent.
PENDING_WAIT = 2.0


class ClaimLock(Lock):
    """A dedup claim: a redis-py ``Lock`` (not thread-local: the token is the task's, not the
    thread's) plus :meth:`confirm`."""

    LUA_CONFIRM_SCRIPT = """
        if redis.call('get', KEYS[1]) == ARGV[1] then
            return redis.call('set', KEYS[1], ARGV[2], 'PX', ARGV[3]) and 1
        end
        return 0
    """
    lua_confirm: Script | None = None

    def __init__(self, key: str, ttl: float, token: str | bytes | None = None) -> None:
        super().__init__(get_redis(), key, timeout=max(1.0, ttl), blocking=False, thread_local=False)
        if token is not None:
            self.local.token = token.encode() if isinstance(token, str) else token

    @property
    def token(self) -> str | None:
        value = self.local.token
        return None if value is None else _text(value)

    def take(self, task_id: str, *, pending: bool = False) -> bool:
        """``SET NX`` with a fresh token for ``task_id``; whether it is ours now."""
        token = f"{task_id} {time.time():.3f}" + (f" {PENDING_MARK}" if pending else "")
        return bool(self.acquire(blocking=False, token=token))

    def confirm(self, ttl: float) -> bool:
        """Drop the ``pending`` mark of our token (the broker has the message) and live ``ttl`` s."""
        token = self.token
        if token is None or not token.endswith(f" {PENDING_MARK}"):
            return False
        cls = type(self)
        if cls.lua_confirm is None:
            cls.lua_confirm = self.redis.register_script(cls.LUA_CONFIRM_SCRIPT)
        confirmed = token.removesuffix(f" {PENDING_MARK}")
        ms = max(1000, int(ttl * 1000))
        if not cls.lua_confirm(keys=[self.name], args=[token, confirmed, ms], client=self.redis):
            return False
        self.local.token = confirmed.encode()
        return True


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


# (key, task id) -> token of the claims this process took: acting on them needs no read first.
_held: dict[tuple[str, str], bytes] = {}
_HELD_MAX = 10_000


def _hold(lock: ClaimLock, task_id: str) -> None:
    if lock.local.token is not None:
        if len(_held) >= _HELD_MAX:
            _held.clear()
        _held[(lock.name, task_id)] = lock.local.token


def _held_now(lock: ClaimLock, task_id: str) -> bool:
    """Remember the token of a claim this process now acts on (the worker, for the caller's)."""
    _hold(lock, task_id)
    return True


def _owned(key: str, task_id: str, ttl: float, *, read: bool = False) -> ClaimLock | None:
    """``task_id``'s claim on ``key`` as a :class:`ClaimLock` holding its token (the one this process
    took, else read from Redis); None if not ours."""
    token: bytes | str | None = None if read else _held.get((key, task_id))
    if token is None:
        token = get_redis().get(key)
        if token is None or _parse(token)[0] != task_id:
            return None
    return ClaimLock(key, ttl, token)


def _act(key: str, task_id: str, ttl: float, action: Callable[[ClaimLock], bool]) -> bool:
    """``action`` on ``task_id``'s claim: with the token this process holds, and once more with
    the token in Redis if that one is stale (e.g. a redelivered task claimed it again)."""
    for read in (False, True):
        lock = _owned(key, task_id, ttl, read=read)
        if lock is None:
            continue
        try:
            if action(lock):
                return True
        except LockError:
            pass
        if read or (key, task_id) not in _held:
            break
    return False


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
    try:
        lock = ClaimLock(key, ttl)
        attempts = 3
        patience = time.monotonic() + PENDING_WAIT
        while attempts > 0:
            if lock.take(task_id, pending=pending):
                _hold(lock, task_id)
                return None
            current = lock.redis.get(key)
            if current is None:
                attempts -= 1
                continue  # released between SET and GET: try again
            current_id, age = _parse(current)
            if current_id == task_id:
                ours = ClaimLock(key, ttl, current)
                ours.reacquire()  # ours already (a redelivered task): keep it
                _hold(ours, task_id)
                return None
            if not _text(current).endswith(f" {PENDING_MARK}"):
                return current_id, age
            if time.monotonic() > patience:
                return None  # never confirmed sent: sharing it could hand out a task that never was
            time.sleep(0.01)  # its message is being sent: share it once the broker has it
    except LockError:
        return None  # it lapsed between our read and our reacquire: nobody holds it, send
    except REDIS_ERRORS as exc:
        _skipped("not taken", key, exc)
    return None  # Redis away, or extreme churn: sending twice is safe


def confirm(key: str, task_id: str, ttl: float) -> bool:
    """The broker has ``task_id``'s message: its pending claim is shared from now on, for ``ttl`` s."""

    def confirmed(lock: ClaimLock) -> bool:
        if not lock.confirm(ttl):
            return False
        _hold(lock, task_id)
        return True

    try:
        return _act(key, task_id, ttl, confirmed)
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

    def released(lock: ClaimLock) -> bool:
        lock.release()  # LockNotOwnedError: taken over or lapsed since, not ours any more
        return True

    try:
        return _act(key, task_id, PENDING_TTL, released)
    except REDIS_ERRORS as exc:
        _skipped("not released (it expires by itself)", key, exc)
        return False
    finally:
        _held.pop((key, task_id), None)


def extend(key: str, task_id: str, ttl: float) -> bool:
    """Keep ``task_id``'s claim for another ``ttl`` seconds from now (``Lock.reacquire``)."""
    try:
        return _act(key, task_id, ttl, lambda lock: bool(lock.reacquire()) and _held_now(lock, task_id))
    except REDIS_ERRORS as exc:
        _skipped("not extended", key, exc)
        return False


@contextlib.contextmanager
def sending(identity: str, task_id: str, ttl: float) -> Iterator[tuple[str, float | None] | None]:
    """Around sending ``task_id``'s message: yields the identical fetch to share instead
    (``(holder task id, claim age)``) or None (send it). If the block raises, our claim is dropped
    (nothing was sent); if it ends, the claim is confirmed and lives ``ttl`` seconds."""
    key = queued_key(identity)
    found = claim_or_holder(key, task_id, PENDING_TTL, pending=True)
    if found is not None:
        yield found
        return
    try:
        yield None
    except BaseException:
        release(key, task_id)
        raise
    confirm(key, task_id, ttl)


@contextlib.contextmanager
def running(identity: str, task_id: str, ttl: float) -> Iterator[str | None]:
    """Around the worker's call to ESI: yields the task id of an identical fetch already running
    (then nothing is claimed), or None with the running claim ours until the block ends."""
    key = running_key(identity)
    other = claim(key, task_id, ttl)
    try:
        yield other
    finally:
        if other is None:
            release(key, task_id)


@contextlib.contextmanager
def serving(
    identity: str | None,
    task_id: str | None,
    ttl: float,
    *,
    refresh: bool = True,
    keep_on: tuple[type[BaseException], ...] = (),
) -> Iterator[None]:
    """Around a worker's run of a queued fetch: its queued claim is refreshed for ``ttl`` seconds
    (``refresh``: a real worker, not an eager call), then dropped when the block ends, before the
    result or the error is stored (a caller who asks from then on gets a new task, served from the
    cache the fetch filled) unless the block raised one of ``keep_on`` (re-queued: still queued)."""
    if identity is None or not task_id:
        yield
        return
    key = queued_key(identity)
    if refresh:
        extend(key, task_id, ttl)
    try:
        yield
    except keep_on:
        raise
    except BaseException:
        release(key, task_id)
        raise
    release(key, task_id)


def claims() -> Iterator[Claim]:
    """Every dedup claim in Redis (for ``esi_claims``); raises redis errors: it is a command."""
    r = get_redis()
    for key in r.scan_iter(match=f"{PREFIX}:dedup:*", count=500):
        value, pttl = r.get(key), r.pttl(key)
        if value is None:
            continue
        task_id, age = _parse(value)
        yield Claim(_text(key), task_id, age, pttl / 1000 if pttl and pttl > 0 else None)
