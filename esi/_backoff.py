"""The one backoff formula of the distribution, and how long a process may wait in place.

:func:`exponential` is used by the ESI client's retries (``esi.client._retry``), by the SSO
calls (``esi.sso._http.retrying``) and by the Celery tasks (``EsiTask.backoff``): the n-th
retry (n = 0, 1, 2, ...) waits ``base * 2**n`` seconds, at most ``cap``, stretched by up to
``jitter`` of itself at random so that clients failing together do not come back together.

No library is used for it: ``tenacity``/``backoff`` would bring a retry *loop* with their own
idea of what to retry, and each of our three loops has rules of its own (Retry-After, a write
is never sent twice, Celery re-queues); redis-py's backoff classes have other jitter shapes and
no injectable random source for instant tests. The formula itself is one line.

:func:`in_process_wait_limit` is the longest a caller of the client may sleep in place in the
current context (``None``: no limit beyond the client's own). The Celery layer sets it for
every task a worker runs (``ESI_MAX_IN_PROCESS_WAIT``), so a worker never sleeps for long: a
longer wait ends the call with :class:`~esi.exceptions.EsiRetryLater` and the task re-queues.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token

__all__ = ["exponential", "in_process_wait_limit", "limit_waits", "unlimit_waits", "waiting_at_most"]

_limit: ContextVar[float | None] = ContextVar("esi_in_process_wait_limit", default=None)


def exponential(
    attempt: int,
    *,
    base: float,
    cap: float = float("inf"),
    jitter: float = 0.1,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds before retry number ``attempt + 1``: ``min(cap, base * 2**attempt) * (1 + jitter * rand())``."""
    wait = min(float(cap), float(base) * 2 ** max(0, attempt))
    return float(wait * (1.0 + jitter * rand()))


def in_process_wait_limit() -> float | None:
    """The longest in-place wait allowed in this context, or ``None`` (no limit set)."""
    return _limit.get()


def limit_waits(seconds: float | None) -> Token[float | None]:
    """Set the limit for the rest of this context (a task's run); hand the result to :func:`unlimit_waits`."""
    return _limit.set(None if seconds is None else max(0.0, float(seconds)))


def unlimit_waits(token: Token[float | None]) -> None:
    """Restore the limit :func:`limit_waits` replaced."""
    _limit.reset(token)


@contextmanager
def waiting_at_most(seconds: float | None) -> Iterator[None]:
    """Within the block, no ESI/SSO call sleeps longer than ``seconds`` in total (``None``: no limit)."""
    token = limit_waits(seconds)
    try:
        yield
    finally:
        unlimit_waits(token)
