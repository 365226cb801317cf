"""The cross-process lock around one token's refresh token, and the keeper that extends it.

redis-py's ``Lock`` per token, living ``ESI_TOKEN_REFRESH_LOCK_TIMEOUT`` seconds and extended by a
small keeper thread while SSO is slow, so a second process never sends the same refresh token.
A Redis that does not answer at the lock is :class:`~esi.exceptions.RedisUnavailable`; a lock that
cannot be had in time is :class:`~esi.exceptions.SSOUnavailable` (try again); a lock that cannot
be released expires by itself.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator

from redis.exceptions import LockError, LockNotOwnedError
from redis.lock import Lock

from esi.app_settings import esi_settings
from esi.exceptions import RedisUnavailable, SSOUnavailable
from esi.redis_pool import REDIS_ERRORS, get_redis

__all__ = ["LOCK_WAIT", "Keeper", "held", "lock_timeout", "still_held", "token_lock"]

logger = logging.getLogger(__name__)

#: Least seconds a caller waits for another process's refresh of the same token.
LOCK_WAIT = 60


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


def redis_down(pk: int, exc: BaseException) -> RedisUnavailable:
    return RedisUnavailable(
        f"Redis did not answer at the refresh lock of token {pk} ({type(exc).__name__}); the token was not "
        "refreshed and is intact. Retry once Redis is back (check ESI_REDIS_URL)."
    )


@contextlib.contextmanager
def held(pk: int, busy: str) -> Iterator[Lock]:
    """Hold token ``pk``'s refresh lock; ``SSOUnavailable(busy)`` if it cannot be had in time,
    ``RedisUnavailable`` if Redis does not answer. A lock that cannot be released expires."""
    lock = token_lock(pk)
    try:
        acquired = lock.acquire()
    except REDIS_ERRORS as exc:
        raise redis_down(pk, exc) from exc
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


def still_held(lock: Lock, pk: int, what: str) -> None:
    """Refuse to send the refresh token unless this process still holds the lock."""
    try:
        owned = lock.owned()
    except REDIS_ERRORS as exc:
        raise redis_down(pk, exc) from exc
    if not owned:
        raise SSOUnavailable(f"The refresh lock of {what} expired before the refresh was sent; try again.")


class Keeper:
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

    def __enter__(self) -> Keeper:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
