"""The Celery tasks of django-esi. Bodies are thin: the work is in plain functions.

::

    from esi_tasks.tasks import fetch_endpoint
    fetch_endpoint.delay("GetStatus").get()                       # -> decoded JSON
    fetch_endpoint.delay("GetCharactersCharacterIdAssets", character_id=90000001, all_pages=True)

Arguments are JSON (ids, never model instances). The failure policy is in
:class:`esi_tasks.base.EsiTask`; de-duplication in :class:`esi_tasks.fetch_task.FetchTask`.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import group, shared_task
from celery.app.task import get_actual_ignore_result

from esi.app_settings import esi_settings
from esi.login import cleanup_callback_redirects as cleanup_logins
from esi_tasks import dispatcher, results, scheduling, token_refresh
from esi_tasks import keep_fresh as keep_fresh_state
from esi_tasks.base import EsiTask
from esi_tasks.fetch_task import FetchTask, announce_failure
from esi_tasks.signals import fetch_failed

__all__ = [
    "cleanup_callback_redirects",
    "fetch_endpoint",
    "keep_fresh",
    "keep_fresh_dispatch",
    "refresh_token",
    "refresh_token_lane",
    "refresh_tokens",
    "run_schedule",
]

logger = logging.getLogger(__name__)


@shared_task(bind=True, base=FetchTask, name="esi_tasks.fetch_endpoint")  # type: ignore[untyped-decorator]
def fetch_endpoint(
    self: FetchTask,
    operation: str,
    *,
    token_id: int | None = None,
    all_pages: bool = False,
    language: str | None = None,
    force_refresh: bool = False,
    compatibility_date: str | None = None,
    on_page: str | None = None,
    **params: Any,
) -> Any:
    """Fetch ``operation`` with ``params`` and return the decoded JSON (all pages if ``all_pages``).

    ``on_page="myapp.tasks.handle_page"`` streams instead: each page is sent to that task as it
    arrives (and to ``page_fetched`` receivers), nothing is joined, and the result is a summary
    ``{"operation", "pages", "rows", "etag", "last_modified", "expires"}`` (see docs/tasks.md).

    The token is ``token_id``'s, else a token of the ``character_id``/``corporation_id``
    parameter's character holding the operation's scopes (:mod:`esi_tasks.tokens`).
    ``compatibility_date`` picks the client (and view) of that date; the default client without.
    """
    outcome = self.fetch(
        operation,
        token_id=token_id,
        all_pages=all_pages,
        language=language,
        force_refresh=force_refresh,
        compatibility_date=compatibility_date,
        on_page=on_page,
        params=params,
    )
    if not get_actual_ignore_result(self, self.request):
        results.check_size(outcome.data, outcome.operation)  # ESI_TASK_RESULT_MAX_BYTES
    return outcome.data


class _UnwatchedResults(EsiTask):
    """Runs nobody waits for (:mod:`esi_tasks.results`): a stored result lives ``ESI_TASK_RESULT_EXPIRES``."""

    abstract = True
    #: Every stored result of this task is a run nobody waits for (not only beat's).
    unwatched = False

    def on_success(self, retval: Any, task_id: str, args: Any, kwargs: Any) -> None:
        if self.request.called_directly or get_actual_ignore_result(self, self.request):
            return
        if results.keep_scheduled() and (self.unwatched or results.sent_by_beat(self.request)):
            results.shorten_retention(self, task_id)


class KeepFreshTask(_UnwatchedResults):
    """Keep-fresh runs: the policy of :class:`EsiTask`; a final failure stops the chain."""

    abstract = True
    unwatched = True

    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        kwargs = dict(kwargs or {})
        chain_id = kwargs.pop("keep_id", None)
        if chain_id:
            keep_fresh_state.record_error(chain_id, exc)
        announce_failure(self.__class__, exc, task_id, args, kwargs)


@shared_task(bind=True, base=KeepFreshTask, name="esi_tasks.keep_fresh")  # type: ignore[untyped-decorator]
def keep_fresh(
    self: KeepFreshTask,
    operation: str,
    *,
    keep_id: str,
    token_id: int | None = None,
    all_pages: bool = False,
    language: str | None = None,
    **params: Any,
) -> Any:
    """One run of a keep-fresh chain (start one with :func:`esi_tasks.keep_fresh.start`)."""
    return keep_fresh_state.run(
        self, operation, keep_id=keep_id, token_id=token_id, all_pages=all_pages, language=language, params=params
    )


@shared_task(bind=True, base=EsiTask, name="esi_tasks.keep_fresh_dispatch", ignore_result=True)  # type: ignore[untyped-decorator]
def keep_fresh_dispatch(self: EsiTask, token: str | None = None) -> int:
    """One tick of the keep-fresh dispatcher (:mod:`esi_tasks.dispatcher`): send the runs due now.

    Without ``token`` (beat's ``esi: keep-fresh dispatcher`` entry) it starts a tick chain if none runs.
    """
    return dispatcher.tick(self.app, token)


@shared_task(bind=True, base=EsiTask, name="esi_tasks.refresh_token")  # type: ignore[untyped-decorator]
def refresh_token(self: EsiTask, token_id: int) -> str:
    """Refresh one token at SSO now: ``"refreshed"``, ``"invalid"``, ``"not_refreshable"``, ``"failed"`` or
    ``"missing"`` (:func:`esi_tasks.token_refresh.refresh_one`)."""
    with self.policy():
        return token_refresh.refresh_one(token_id)


@shared_task(bind=True, base=EsiTask, name="esi_tasks.refresh_token_lane")  # type: ignore[untyped-decorator]
def refresh_token_lane(self: EsiTask, token_ids: list[int], sweep: dict[str, Any] | None = None) -> dict[str, int]:
    """Refresh ``token_ids`` one after the other (one lane of the sweep); state ``PROGRESS`` meanwhile."""

    def report(meta: dict[str, Any]) -> None:
        if self.request.id:
            self.update_state(state="PROGRESS", meta=meta)

    return token_refresh.refresh_lane(token_ids, sweep=sweep, report=report)


@shared_task(bind=True, base=EsiTask, name="esi_tasks.refresh_tokens")  # type: ignore[untyped-decorator]
def refresh_tokens(self: EsiTask, interval: float = token_refresh.DEFAULT_SWEEP_INTERVAL) -> dict[str, Any]:
    """The sweep: refresh tokens about to lapse and re-validate old ones, in bounded lanes.

    ``interval`` is how often beat runs the sweep (seconds), so tokens lapsing before the next
    sweep are renewed now. Returns ``{"tokens", "lanes", "task_ids", "sweep_id"}`` (progress:
    :func:`esi_tasks.token_refresh.sweep_progress`), or
    ``{"skipped": True, ...}`` while lanes of the previous sweep still run (so overlapping sweeps
    never exceed ``ESI_REFRESH_SWEEP_CONCURRENCY`` refreshes at once).
    """
    running = token_refresh.lanes_still_running(self.AsyncResult)
    if running:
        logger.info("token sweep skipped: %s lane(s) of the previous sweep still run", len(running))
        return {"skipped": True, "tokens": 0, "lanes": 0, "task_ids": running}
    ids = token_refresh.select_for_sweep(interval=interval)
    lanes = token_refresh.split_lanes(ids, esi_settings.ESI_REFRESH_SWEEP_CONCURRENCY)
    sweep = token_refresh.begin_sweep(ids, lanes, source="task", interval=interval)
    task_ids: list[str] = []
    if lanes:
        result = group(refresh_token_lane.s(lane, sweep=sweep) for lane in lanes).apply_async()
        task_ids = [child.id for child in result.results]
        token_refresh.remember_lanes(task_ids)
    logger.info("token sweep %s: %s tokens in %s lanes", sweep["id"], len(ids), len(lanes))
    return token_refresh.sweep_summary(lanes, task_ids, sweep)


@shared_task(bind=True, base=EsiTask, name="esi_tasks.cleanup_callback_redirects")  # type: ignore[untyped-decorator]
def cleanup_callback_redirects(self: EsiTask) -> int:
    """Delete SSO logins older than ``ESI_CALLBACK_REDIRECT_MAX_AGE`` (hourly in beat); how many."""
    return int(cleanup_logins())


class ScheduleTask(_UnwatchedResults):
    """Scheduled runs: record a final failure on the schedule (shown in the admin); a run sent by
    beat stores no result unless ``ESI_TASK_STORE_SCHEDULED_RESULTS`` (:mod:`esi_tasks.results`)."""

    abstract = True

    def apply_async(self, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        if results.is_from_beat(options):
            options.setdefault("ignore_result", not results.keep_scheduled())
        return super().apply_async(args, kwargs, **options)

    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        schedule_id = (list(args or ()) or [(kwargs or {}).get("schedule_id")])[0]
        if schedule_id is None:
            return
        schedule = scheduling.record_failure(int(schedule_id), exc)
        if schedule is not None:
            fetch_failed.send(
                sender=self.__class__,
                operation=schedule.operation,
                params=dict(schedule.params or {}),
                token_id=schedule.token_id,
                exception=exc,
                task_id=task_id,
            )


@shared_task(bind=True, base=ScheduleTask, name="esi_tasks.run_schedule")  # type: ignore[untyped-decorator]
def run_schedule(self: ScheduleTask, schedule_id: int) -> dict[str, Any]:
    """Run one :class:`~esi_tasks.models.EndpointSchedule` (what its beat entry sends)."""
    return scheduling.run(self, schedule_id)
