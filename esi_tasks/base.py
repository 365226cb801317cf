"""The one place that holds the failure policy of every ESI task.

=================================  ===========================================================
error                              what happens
=================================  ===========================================================
``EsiRequestError`` (unknown op,   fails at once, not retried: the call itself is wrong
bad parameter, missing scope),
``TokenError`` (``NoTokenError``),
``EsiClientError`` (4xx)
``EsiRateLimited``,                re-queued with ``countdown = exc.retry_after`` (+ a little
``EsiErrorLimited``                jitter). The worker does not sleep, and ``max_retries`` is not
                                   used up: a separate count (``esi_requeues`` message header)
                                   stops after :attr:`EsiTask.max_requeues`.
``EsiServerError``,                retried by Celery with exponential backoff
``EsiTransportError``,             (:attr:`~EsiTask.retry_backoff`, ``retry_backoff_max``,
``SSOUnavailable``                 ``retry_jitter``) up to :attr:`~EsiTask.max_retries` times;
                                   but a *write* (an operation :func:`esi.client.is_retry_safe`
                                   refuses: mail, contacts, fleets...) fails at once on a 5xx or
                                   a transport error, since ESI may have applied it already
=================================  ===========================================================

Every task is ``acks_late`` with ``reject_on_worker_lost``: a worker process killed mid-task
hands its message back to the broker, so no fetch is lost (it may run twice; fetches are
reads). Change the numbers per task with Celery's ``task_annotations``.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from celery import Task
from celery.exceptions import Reject, Retry
from kombu.exceptions import OperationalError

from esi._backoff import exponential
from esi.client import get_client, is_retry_safe
from esi.exceptions import (
    EsiClientError,
    EsiLimited,
    EsiRequestError,
    EsiResultTooLarge,
    EsiServerError,
    EsiTransportError,
    RedisUnavailable,
    SSOUnavailable,
    TokenError,
)
from esi.redis_pool import REDIS_ERRORS
from esi_tasks.broker import broker_problem

__all__ = ["EsiTask", "REQUEUE_HEADER"]  # noqa: RUF022  (plain sorted(), as the API tests pin)

logger = logging.getLogger(__name__)

REQUEUE_HEADER = "esi_requeues"
RETRYABLE: tuple[type[BaseException], ...] = (EsiServerError, EsiTransportError, SSOUnavailable, RedisUnavailable)
#: What kombu and redis-py raise when the broker does not take a message.
BROKER_ERRORS: tuple[type[BaseException], ...] = (OperationalError, *REDIS_ERRORS)  # (see esi_tasks.broker)


def _retry_safe(operation: str) -> bool:
    """The client's own answer (:func:`esi.client.is_retry_safe`); an unknown name is not a write."""
    try:
        return is_retry_safe(get_client().spec.get(operation))
    except EsiRequestError:
        return True


def _broker_cause(exc: BaseException | None) -> BaseException | None:
    """The broker error ``exc`` is or was raised from (Celery's result backend wraps them in
    ``RuntimeError`` once its retries are spent), or ``None``."""
    while exc is not None:
        if isinstance(exc, BROKER_ERRORS):
            return exc
        exc = exc.__cause__
    return None


def _header(request: Any, name: str) -> Any:
    """A custom message header: Celery exposes them as request attributes and in ``headers``."""
    headers = getattr(request, "headers", None) or {}
    if name in headers:
        return headers[name]
    return getattr(request, name, None)


class EsiTask(Task):  # type: ignore[misc]
    """Base class of the ESI tasks: late acks, and the retry/re-queue policy in :meth:`policy`."""

    abstract = True
    acks_late = True
    reject_on_worker_lost = True
    max_retries = 5
    retry_backoff: float = 5.0
    retry_backoff_max: float = 600.0
    retry_jitter = True
    #: Expected outcomes (a wrong call, a 4xx, no token): the task fails, and the worker logs one
    #: line instead of an error with a traceback (Celery's ``Task.throws``).
    throws = (EsiRequestError, EsiClientError, TokenError, EsiResultTooLarge)
    #: How often one message may be re-queued for rate/error limits before it fails.
    max_requeues = 100
    #: The longest extra wait added to a limit's ``retry_after`` so re-queued tasks do not stampede.
    requeue_jitter_max: float = 2.0

    @contextmanager
    def policy(self, operation: str | None = None) -> Iterator[None]:
        """Run the block; turn ESI errors into a re-queue, a backoff retry or a failure.

        ``operation`` is the operationId the block calls: a write is never retried after a 5xx
        or a transport error (a limit is re-queued: ESI refused the request, nothing happened).
        """
        try:
            yield
        except Retry:
            raise
        except EsiLimited as exc:
            raise self.requeue(exc.retry_after, exc) from exc
        except RETRYABLE as exc:
            nothing_sent = isinstance(exc, SSOUnavailable | RedisUnavailable)
            if operation is not None and not nothing_sent and not _retry_safe(operation):
                # SSOUnavailable (token refresh) and RedisUnavailable: nothing reached ESI, a retry is safe
                logger.warning(
                    "%s[%s] %s not retried: it changes game state and ESI may have applied it (%s)",
                    self.name,
                    self.request.id,
                    operation,
                    exc,
                )
                raise
            countdown = self.backoff(self.request.retries)
            logger.info(
                "%s[%s] retry %s/%s in %.1f s after %s",
                self.name,
                self.request.id,
                self.request.retries + 1,
                self.max_retries,
                countdown,
                exc,
            )
            raise self.retry(exc=exc, countdown=countdown) from exc

    def backoff(self, retries: int) -> float:
        """Seconds before retry number ``retries + 1``: ``retry_backoff * 2**retries`` capped at
        ``retry_backoff_max``, and with ``retry_jitter`` up to half of that more at random
        (:func:`esi._backoff.exponential`, the formula of every backoff in the distribution)."""
        return exponential(
            retries, base=self.retry_backoff, cap=self.retry_backoff_max, jitter=0.5 if self.retry_jitter else 0.0
        )

    def requeue_count(self) -> int:
        return int(_header(self.request, REQUEUE_HEADER) or 0)

    def requeue(self, countdown: float, exc: BaseException | None = None) -> Retry:
        """Send this task again in ``countdown`` seconds without using up ``max_retries``.

        Returns the :class:`~celery.exceptions.Retry` to raise. When called outside a worker
        (``task.apply()``, eager mode) or after :attr:`max_requeues`, raises ``exc`` instead.
        """
        request = self.request
        count = self.requeue_count()
        if request.called_directly or request.is_eager or count >= self.max_requeues:
            if exc is not None:
                raise exc
            raise RuntimeError(f"{self.name} could not be re-queued")
        jitter = random.uniform(0, min(self.requeue_jitter_max, 0.1 * countdown)) if countdown > 0 else 0.0
        countdown = countdown + jitter
        headers = dict(request.headers or {})
        headers[REQUEUE_HEADER] = count + 1
        signature = self.signature_from_request(request, countdown=countdown, headers=headers)
        self.before_requeue(countdown)
        try:
            signature.apply_async()
        except RedisUnavailable as err:
            self.after_requeue(countdown, sent=False)
            logger.warning("%s[%s] not re-queued (%s): its message goes back to the broker", self.name, request.id, err)
            raise Reject(err, requeue=True) from err
        self.after_requeue(countdown, sent=True)
        logger.info("%s[%s] re-queued in %.1f s (%s)", self.name, request.id, countdown, exc)
        return Retry(exc=exc, when=countdown, sig=signature)

    def before_requeue(self, countdown: float) -> None:
        """Hook for subclasses, before the new message is sent."""

    def after_requeue(self, countdown: float, sent: bool) -> None:
        """Hook for subclasses (e.g. to tie a de-duplication claim to the new message)."""

    def retry(self, *args: Any, **kwargs: Any) -> Any:
        """Celery's ``retry``, except that a retry the broker did not take hands the message back
        (Celery would reject it for good: the task would be lost)."""
        try:
            return super().retry(*args, **kwargs)
        except Reject as rejected:
            if rejected.requeue:
                raise
            logger.warning("%s[%s] retry not sent: its message goes back to the broker", self.name, self.request.id)
            raise Reject(rejected.reason, requeue=True) from None

    def apply_async(self, *args: Any, **kwargs: Any) -> Any:
        """Celery's ``apply_async``; a broker that does not take the message is ``RedisUnavailable``."""
        if self.app.conf.task_always_eager:
            return super().apply_async(*args, **kwargs)
        try:
            return super().apply_async(*args, **kwargs)
        except Exception as exc:
            cause = _broker_cause(exc)
            if cause is None:
                raise
            raise RedisUnavailable(f"{self.name} was not sent. {broker_problem(cause)}") from exc
