"""A write is sent at most once per task, even when its message is delivered again.

Tasks are ``acks_late``: a worker lost mid-task hands its message back, which is right for
reads but would send a write (mail, contacts, fleets...) a second time. :func:`at_most_once`
marks the task id in Redis before a write is sent; a delivery that finds the mark refuses to
send again. The mark is removed when the attempt ended before anything reached ESI (a limit
re-queue, a refresh that failed, a refused call), so those are still sent once later.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress

from celery.exceptions import Retry

from esi.client import Operation, is_retry_safe
from esi.exceptions import EsiLimited, EsiRequestError, SSOUnavailable, TokenError
from esi.redis_pool import REDIS_ERRORS, get_redis, unavailable
from esi_tasks._keys import PREFIX
from esi_tasks.base import _retry_safe

__all__ = ["MARK_TTL", "at_most_once", "guard"]

#: How long a write's mark is kept: longer than any redelivery of its message.
MARK_TTL = 7 * 24 * 3600

#: Outcomes of an attempt that sent nothing to ESI (a write's Retry is never after a send).
_NOT_SENT = (Retry, EsiLimited, EsiRequestError, TokenError, SSOUnavailable)


@contextmanager
def at_most_once(task_id: str, operation: str) -> Iterator[None]:
    """Run the block that sends write ``operation`` for task ``task_id`` at most once."""
    key = f"{PREFIX}:write:{task_id}"
    with unavailable("marking a write as sent"):
        first = get_redis().set(key, operation, nx=True, ex=MARK_TTL)
    if not first:
        raise EsiRequestError(
            f"{operation} of task {task_id} was started before (its worker was lost mid-call?) and is not sent "
            "again: ESI may have applied it. Check in game, then queue it anew if it did not happen."
        )
    try:
        yield
    except _NOT_SENT:
        with suppress(*REDIS_ERRORS):  # else the mark expires; a redelivery fails rather than sends twice
            get_redis().delete(key)
        raise


def guard(task_id: str | None, operation: str | Operation) -> AbstractContextManager[None]:
    """:func:`at_most_once` for a write run by a worker; nothing for reads (or outside a task).

    ``operation`` is an operationId, or the spec's :class:`~esi.client.Operation` when the caller
    has it already (a prepared fetch: no second lookup)."""
    if isinstance(operation, Operation):
        safe, name = is_retry_safe(operation), operation.id
    else:
        safe, name = _retry_safe(operation), operation
    if task_id and not safe:
        return at_most_once(task_id, name)
    return nullcontext()
