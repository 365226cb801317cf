"""``FetchTask``: the base class of ``fetch_endpoint`` — the failure policy plus de-duplication."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from celery import signals, states
from celery.exceptions import Retry
from celery.utils import uuid

from esi.client import get_client
from esi.exceptions import EsiRequestError
from esi_tasks import dedup, fetching, waits, writes  # noqa: F401  (waits: the worker wait limit handlers)
from esi_tasks._keys import digest, fetch_identity
from esi_tasks.base import EsiTask
from esi_tasks.signals import fetch_failed

__all__ = ["FETCH_OPTIONS", "FetchTask", "announce_failure", "split_fetch_kwargs"]

logger = logging.getLogger(__name__)

#: Keyword arguments of ``fetch_endpoint`` that are options, not ESI parameters.
FETCH_OPTIONS = ("token_id", "all_pages", "language", "force_refresh", "compatibility_date", "on_page")
_NO_DEDUP_OPTIONS = ("chain", "chord", "group_id", "countdown", "eta")


def _identity_of(operation: str, options: dict[str, Any], params: dict[str, Any]) -> str:
    """:func:`~esi_tasks._keys.fetch_identity` of a fetch; a streamed one (``on_page``) is another fetch."""
    on_page = options.pop("on_page", None)
    if on_page:
        params = {**params, "@on_page": on_page}
    return fetch_identity(operation, params, **options)


def split_fetch_kwargs(
    args: Any, kwargs: Mapping[str, Any] | None
) -> tuple[str | None, dict[str, Any], dict[str, Any]]:
    """``(operation, options, params)`` from a ``fetch_endpoint`` call's args and kwargs."""
    kwargs = dict(kwargs or {})
    args = list(args or ())
    operation = args[0] if args else kwargs.pop("operation", None)
    options = {name: kwargs.pop(name) for name in FETCH_OPTIONS if name in kwargs}
    return operation, options, kwargs


def announce_failure(
    sender: type, exc: BaseException, task_id: str, args: Any, kwargs: Mapping[str, Any] | None
) -> None:
    """Send ``fetch_failed`` for a fetch called with ``args``/``kwargs`` (shared by the fetch tasks)."""
    operation, options, params = split_fetch_kwargs(args, kwargs)
    fetch_failed.send(
        sender=sender,
        operation=operation,
        params=params,
        token_id=options.get("token_id"),
        exception=exc,
        task_id=task_id,
    )


def _identity(args: Any, kwargs: Mapping[str, Any] | None) -> str | None:
    """The queued identity of a fetch message (what the caller's claim is keyed by)."""
    operation, options, params = split_fetch_kwargs(args, kwargs)
    if not isinstance(operation, str):
        return None
    return _identity_of(operation, options, params)


def _shared_read_identity(args: Any, kwargs: Mapping[str, Any] | None) -> str | None:
    """The queued identity of a fetch that is a GET in the view of its date; None otherwise
    (a write, or an unknown operation: the task fails with a clear error, nothing to share)."""
    operation, options, params = split_fetch_kwargs(args, kwargs)
    if not isinstance(operation, str):
        return None
    date = params.get("compatibility_date") or options.get("compatibility_date")
    try:
        op = get_client(date).spec.get(operation)
    except EsiRequestError:
        return None
    if op.method != "get":
        return None
    return _identity_of(op.id, options, params)


def _running_identity(call: fetching.PreparedFetch, all_pages: bool, on_page: str | None = None) -> str:
    """Identical running fetches share this: the prepared call's cache key (operation, values,
    language, date, character), whether every page is asked for, and where pages are streamed."""
    if on_page:
        return digest(call.call.key, True, call.call.force_refresh, on_page)
    return digest(call.call.key, bool(all_pages), call.call.force_refresh)


class FetchTask(EsiTask):
    """:class:`~esi_tasks.base.EsiTask` that shares identical queued/running fetches (see :mod:`esi_tasks.dedup`)."""

    abstract = True
    #: Longest time a queued claim lives (a message lost for good stops blocking after this).
    dedup_timeout: float = 300.0
    #: Longest time a running claim lives (a crashed worker stops blocking after this).
    running_timeout: float = 180.0
    #: Wait before a copy that found an identical fetch running tries again (from the cache).
    running_wait: float = 1.0

    def apply_async(
        self,
        args: Any = None,
        kwargs: Any = None,
        task_id: str | None = None,
        producer: Any = None,
        link: Any = None,
        link_error: Any = None,
        shadow: Any = None,
        **options: Any,
    ) -> Any:
        """Send the fetch, or hand back the identical fetch already queued or running.

        Pass ``dedup=False`` to always send. Calls with callbacks, chains, an explicit
        ``task_id``, ``countdown`` or ``eta`` are always sent (and share at run time instead).
        """
        want = options.pop("dedup", True)
        shareable = (
            want
            and task_id is None
            and link is None
            and link_error is None
            and not any(options.get(name) for name in _NO_DEDUP_OPTIONS)
            and not self.app.conf.task_always_eager
        )
        identity = _shared_read_identity(args, kwargs) if shareable else None
        if identity is not None:
            task_id = uuid()
            with dedup.sending(identity, task_id, self.dedup_timeout) as found:
                if found is not None:
                    holder, age = found
                    logger.info(
                        "%s: sharing the identical fetch %s, claimed %s ago",
                        self.name,
                        holder,
                        f"{age:.0f} s" if age is not None else "an unknown time",
                    )
                    return self.AsyncResult(holder)
                return super().apply_async(  # raises: nothing was sent, the claim is dropped
                    args,
                    kwargs,
                    task_id=task_id,
                    producer=producer,
                    link=link,
                    link_error=link_error,
                    shadow=shadow,
                    **options,
                )  # the broker has it: shared while queued
        return super().apply_async(
            args, kwargs, task_id=task_id, producer=producer, link=link, link_error=link_error, shadow=shadow, **options
        )

    # --- in the worker -----------------------------------------------------------------------

    def fetch(
        self,
        operation: str,
        *,
        token_id: int | None = None,
        all_pages: bool = False,
        language: str | None = None,
        force_refresh: bool = False,
        compatibility_date: str | None = None,
        on_page: str | None = None,
        params: dict[str, Any],
    ) -> fetching.FetchOutcome:
        """Prepare the fetch once, then run it under the policy and the running claim; send
        ``endpoint_fetched``. With ``on_page`` (a task name) every page is streamed to that task
        (:func:`esi_tasks.fetching.stream`) and the outcome is a summary."""
        task_id = self.request.id
        in_worker = bool(task_id) and not self.request.is_eager
        # a Retry (re-queued or retried) leaves the fetch queued: its queued claim is kept
        queued = dedup.serving(
            self._queued_identity(), task_id, self.running_timeout, refresh=in_worker, keep_on=(Retry,)
        )
        with queued, self.policy(operation):
            prepared = fetching.prepare(
                operation,
                token_id=token_id,
                language=language,
                force_refresh=force_refresh,
                params=params,
                compatibility_date=compatibility_date,
            )
            with writes.guard(task_id, prepared.operation), self._running(prepared, all_pages, on_page, in_worker):
                outcome = fetching.run(prepared, all_pages=all_pages, on_page=on_page, sender=self.__class__)
        outcome.announce(self.__class__, task_id)
        return outcome

    @contextmanager
    def _running(
        self, prepared: fetching.PreparedFetch, all_pages: bool, on_page: str | None, in_worker: bool
    ) -> Iterator[None]:
        """Hold the running claim of this fetch; an identical one running already re-queues this copy
        (it then finds the answer in the cache), up to :attr:`max_requeues` times, then runs unclaimed."""
        if not in_worker:
            yield
            return
        with dedup.running(
            _running_identity(prepared, all_pages, on_page), self.request.id, self.running_timeout
        ) as other:
            if other is not None and self.requeue_count() < self.max_requeues:
                logger.debug(
                    "%s[%s]: identical fetch %s is running; trying again shortly", self.name, self.request.id, other
                )
                raise self.requeue(self.running_wait)
            yield

    def _queued_identity(self) -> str | None:
        """The identity of this message's queued claim, computed once per run."""
        request = self.request
        cached = getattr(request, "esi_queued_identity", None)
        if cached is None:
            cached = _identity(request.args, request.kwargs)
            request.esi_queued_identity = cached
        return cached

    def before_requeue(self, countdown: float) -> None:
        """The queued claim follows the new message: kept for its countdown (dropped if unsent)."""
        identity = self._queued_identity()
        if identity is not None and self.request.id:
            dedup.extend(dedup.queued_key(identity), self.request.id, countdown + self.dedup_timeout)

    def after_requeue(self, countdown: float, sent: bool) -> None:
        if not sent:
            _drop_claim(self.request.id, self.request.args, self.request.kwargs)

    def after_return(self, status: str, retval: Any, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        if status in (states.SUCCESS, states.FAILURE):
            identity = self._queued_identity()
            if identity is not None:
                dedup.release(dedup.queued_key(identity), task_id)

    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        logger.warning("%s[%s] %s failed: %s", self.name, task_id, split_fetch_kwargs(args, kwargs)[0], exc)
        announce_failure(self.__class__, exc, task_id, args, kwargs)


def _drop_claim(task_id: str | None, args: Any, kwargs: Any) -> None:
    identity = _identity(args, kwargs)
    if identity is not None and task_id:
        dedup.release(dedup.queued_key(identity), task_id)


@signals.task_revoked.connect(dispatch_uid="esi_tasks.dedup.revoked")  # type: ignore[untyped-decorator]
def _on_revoked(sender: Any = None, request: Any = None, **_: Any) -> None:
    """A revoked or expired fetch will never run: callers must not be handed it any more."""
    if request is not None and getattr(sender, "name", None) == "esi_tasks.fetch_endpoint":
        _drop_claim(request.id, request.args, request.kwargs)


@signals.task_rejected.connect(dispatch_uid="esi_tasks.dedup.rejected")  # type: ignore[untyped-decorator]
def _on_rejected(message: Any = None, **_: Any) -> None:
    """A message the worker refused (unknown task, bad body): drop the claim it may hold."""
    headers = getattr(message, "headers", None) or {}
    if headers.get("task") != "esi_tasks.fetch_endpoint":
        return
    try:
        args, kwargs = message.decode()[:2]
    except Exception:  # an undecodable body holds no identity
        return
    _drop_claim(headers.get("id"), args, kwargs)
