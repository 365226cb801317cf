"""Endpoint schedules on django-celery-beat: checks, spread offsets, beat entries, runs.

* :func:`validate` checks an operation, its parameters and the token against the spec (the
  admin form shows its errors).
* :func:`stable_offset` gives every schedule a fixed pseudo-random offset within its period
  (a hash of its name), so installs do not all hit ESI on the same second.
* :func:`sync_periodic_task` writes the schedule's ``PeriodicTask``; :func:`run` is what the
  ``esi_tasks.run_schedule`` task does when beat fires it.
* :func:`install_default_schedules` installs the token sweep (``esi_setup_schedules``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from esi.client import get_client
from esi.exceptions import EsiRequestError
from esi.models import Token
from esi_tasks import fetching, keep_fresh, writes

if TYPE_CHECKING:
    from esi_tasks.models import EndpointSchedule

__all__ = [
    "DEFAULT_SCHEDULES",
    "KEEP_FRESH_WATCHDOG_MINUTES",
    "install_default_schedules",
    "next_phase",
    "on_schedule_deleted",
    "record_failure",
    "remove_periodic_task",
    "run",
    "split_crontab",
    "spread_crontab_minute",
    "stable_offset",
    "sync_periodic_task",
    "validate",
]

logger = logging.getLogger(__name__)

#: How often beat checks that a keep-fresh schedule's chain is alive (and restarts it).
KEEP_FRESH_WATCHDOG_MINUTES = 10

#: name -> (task, every N seconds, queue); installed by ``esi_setup_schedules`` / the migration.
DEFAULT_SCHEDULES: dict[str, tuple[str, int, dict[str, Any]]] = {
    "esi: refresh tokens": ("esi_tasks.refresh_tokens", 300, {"interval": 300}),
    "esi: clean up SSO logins": ("esi_tasks.cleanup_callback_redirects", 3600, {}),
    # starts the keep-fresh dispatcher's tick chain if it stopped (esi_tasks.dispatcher)
    "esi: keep-fresh dispatcher": ("esi_tasks.keep_fresh_dispatch", 60, {}),
}


def stable_offset(name: str, period_seconds: int) -> int:
    """A fixed offset in ``[0, period_seconds)`` derived from ``name`` (same on every host)."""
    if period_seconds <= 1:
        return 0
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[:8], "big") % int(period_seconds)


def next_phase(period_seconds: int, offset: int, now: dt.datetime | None = None) -> dt.datetime:
    """The first time at or after ``now`` that is ``offset`` seconds into a period (from the epoch)."""
    now = now or timezone.now()
    ts = int(now.timestamp())
    start = ts - ts % period_seconds + offset
    if start < ts:
        start += period_seconds
    return dt.datetime.fromtimestamp(start, tz=dt.UTC)


def spread_crontab_minute(minute: str, name: str) -> str:
    """``*/N`` -> ``K-59/N`` with a stable ``K`` for ``name``; other minute fields unchanged."""
    if minute.startswith("*/") and minute[2:].isdigit():
        step = int(minute[2:])
        if 1 < step < 60:
            return f"{stable_offset(name, step)}-59/{step}"
    return minute


def split_crontab(expr: str) -> list[str]:
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(
            f"A crontab needs 5 fields (minute hour day-of-month month day-of-week), got {len(fields)}: {expr!r}."
        )
    return fields


# --- checks --------------------------------------------------------------------------------


def validate(
    operation: str, params: Mapping[str, Any], token: Any = None, compatibility_date: str | None = None
) -> tuple[str, dict[str, str]]:
    """``(operationId, errors by field)`` for a schedule, checked against the view of its
    ``compatibility_date`` (the default client's without one); no ESI or SSO requests.

    Fields: ``operation`` (unknown or not in that view, with suggestions), ``params`` (the
    spec's complaint), ``token`` (missing scopes, or no stored token of the character that holds them).
    """
    errors: dict[str, str] = {}
    spec = get_client(compatibility_date or None).spec
    try:
        op = spec.get(operation)
    except EsiRequestError as exc:
        return operation, {"operation": str(exc)}
    if not isinstance(params, Mapping):
        return op.id, {"params": 'Parameters must be a JSON object, e.g. {"region_id": 10000002}.'}
    try:
        spec.validate(op.id, params)
    except EsiRequestError as exc:
        errors["params"] = str(exc)
    scopes = list(op.scopes or [])
    if token is not None:
        missing = sorted(set(scopes) - set(token.scope_names))
        if missing:
            errors["token"] = f"This token lacks the scope(s) {', '.join(missing)} that {op.id} needs."
    elif scopes:
        qs = Token.objects.require_scopes(scopes)
        if params.get("character_id") is not None:
            # a character_id the spec refused (e.g. "abc") is already reported under params
            if "params" not in errors and not qs.filter(character_id=params["character_id"]).exists():
                errors["token"] = (
                    f"No stored token of character {params['character_id']} holds {', '.join(scopes)}; "
                    "pick a token or have the character log in with these scopes."
                )
        elif params.get("corporation_id") is None:
            errors["token"] = f"{op.id} needs the scope(s) {', '.join(scopes)}: pick a token."
        elif not qs.exists():
            errors["token"] = f"No stored token holds {', '.join(scopes)}; pick a token."
    return op.id, errors


# --- beat entries ----------------------------------------------------------------------------


def _schedule_fields(schedule: EndpointSchedule) -> dict[str, Any]:
    fields: dict[str, Any] = {"interval": None, "crontab": None, "start_time": None}
    if schedule.kind == schedule.KIND_CRONTAB:
        minute, hour, dom, month, dow = split_crontab(schedule.crontab)
        crontab, _ = CrontabSchedule.objects.get_or_create(
            minute=spread_crontab_minute(minute, schedule.name),
            hour=hour,
            day_of_month=dom,
            month_of_year=month,
            day_of_week=dow,
            timezone="UTC",
        )
        fields["crontab"] = crontab
        return fields
    minutes = KEEP_FRESH_WATCHDOG_MINUTES if schedule.kind == schedule.KIND_KEEP_FRESH else schedule.every_minutes
    if not minutes:
        raise ValueError("An 'every N minutes' schedule needs every_minutes >= 1.")
    interval, _ = IntervalSchedule.objects.get_or_create(every=int(minutes), period=IntervalSchedule.MINUTES)
    fields["interval"] = interval
    if schedule.kind == schedule.KIND_INTERVAL:
        fields["start_time"] = next_phase(int(minutes) * 60, schedule.offset_seconds)
    else:
        fields["start_time"] = timezone.now()  # keep-fresh: start the chain at beat's next tick
    return fields


def sync_periodic_task(schedule: EndpointSchedule) -> None:
    """Create or update the schedule's ``PeriodicTask`` (and its offset) to match it."""
    period = 60 * (schedule.every_minutes or 0) if schedule.kind == schedule.KIND_INTERVAL else 3600
    offset = stable_offset(schedule.name, max(period, 1))
    schedule.offset_seconds = offset  # _schedule_fields phases the interval by it
    with transaction.atomic():
        fields = _schedule_fields(schedule)
        task = schedule.periodic_task or PeriodicTask()
        task.name = schedule.periodic_task_name
        task.task = "esi_tasks.run_schedule"
        task.args = json.dumps([schedule.pk])
        task.kwargs = "{}"
        task.enabled = schedule.enabled
        task.description = f"ESI {schedule.operation} {json.dumps(schedule.params, sort_keys=True)}"
        task.interval = fields["interval"]
        task.crontab = fields["crontab"]
        task.start_time = fields["start_time"]
        task.save()
        type(schedule).objects.filter(pk=schedule.pk).update(periodic_task=task, offset_seconds=offset)
        schedule.periodic_task = task
    if schedule.kind != schedule.KIND_KEEP_FRESH or not schedule.enabled:
        keep_fresh.cancel(schedule.operation, **schedule.fetch_kwargs())


def remove_periodic_task(schedule: EndpointSchedule) -> None:
    """Delete the schedule's ``PeriodicTask`` and stop its keep-fresh chain."""
    PeriodicTask.objects.filter(Q(name=schedule.periodic_task_name) | Q(pk=schedule.periodic_task_id or 0)).delete()
    try:
        keep_fresh.cancel(schedule.operation, **schedule.fetch_kwargs())
    except Exception as exc:  # Redis down must not block deleting a schedule
        logger.warning("could not cancel keep-fresh chain of schedule %s: %s", schedule.pk, exc)


# --- runs ------------------------------------------------------------------------------------


def _schedule_model() -> type[EndpointSchedule]:
    """The ``EndpointSchedule`` model, by name: ``esi_tasks.models`` imports this module."""
    return apps.get_model("esi_tasks", "EndpointSchedule")


def _record(schedule_id: int, **fields: Any) -> None:
    _schedule_model().objects.filter(pk=schedule_id).update(**fields)


def record_failure(schedule_id: int, exc: BaseException) -> EndpointSchedule | None:
    """Mark the schedule's last run as failed with ``exc``'s message; the schedule (None if deleted)."""
    _record(schedule_id, last_run_at=timezone.now(), last_status="failed", last_error=str(exc)[:2000])
    return _schedule_model().objects.filter(pk=schedule_id).first()


def run(task: Any, schedule_id: int) -> dict[str, Any]:
    """Run a schedule now: fetch (under ``task``'s policy) or make sure its keep-fresh chain runs.

    Returns ``{"schedule_id", "status": "ok", "items", "bytes", "http_status", ...the fetch's meta}``
    (``"keeping fresh"`` and ``"chain_id"`` for a keep-fresh schedule; ``"missing"`` if deleted).
    """
    model = _schedule_model()
    try:
        schedule = model.objects.get(pk=schedule_id)
    except model.DoesNotExist:
        logger.info("schedule %s no longer exists", schedule_id)
        return {"schedule_id": schedule_id, "status": "missing"}
    kwargs = schedule.fetch_kwargs()
    if schedule.kind == schedule.KIND_KEEP_FRESH:
        chain_id = keep_fresh.start(schedule.operation, **kwargs)
        _record(schedule_id, last_run_at=timezone.now(), last_status=schedule.STATUS_KEEPING_FRESH, last_error="")
        return {"schedule_id": schedule_id, "status": "keeping fresh", "chain_id": chain_id}
    options = {k: kwargs.pop(k) for k in ("token_id", "all_pages", "language", "compatibility_date") if k in kwargs}
    with writes.guard(task.request.id, schedule.operation), task.policy(schedule.operation):
        outcome = fetching.fetch(schedule.operation, params=kwargs, **options)
    outcome.announce(type(task), task.request.id)
    size = len(json.dumps(outcome.data, separators=(",", ":")))
    items = len(outcome.data) if isinstance(outcome.data, list | dict) else 1
    _record(
        schedule_id,
        last_run_at=timezone.now(),
        last_status=schedule.STATUS_OK,
        last_result_items=items,
        last_result_bytes=size,
        last_error="",
    )
    meta = dict(outcome.meta)
    meta["http_status"] = meta.pop("status", None)  # "status" is the run's ("ok"), not ESI's
    return {**meta, "schedule_id": schedule_id, "status": "ok", "items": items, "bytes": size}


# --- default periodic tasks ------------------------------------------------------------------


def install_default_schedules(
    periodic_task_model: Any = None,
    interval_model: Any = None,
    *,
    reset: bool = False,
    names: Collection[str] | None = None,
) -> list[str]:
    """Create the default beat entries that do not exist yet (``reset``: put back the defaults).

    Works with the real models or, from a data migration, the historical ones. Returns the
    names created or reset. Entries the admin changed are kept unless ``reset``. ``names``:
    only these entries (a migration adding one must not bring back those a site deleted).
    """
    if periodic_task_model is None or interval_model is None:
        periodic_task_model, interval_model = PeriodicTask, IntervalSchedule
    done: list[str] = []
    for name, (task_name, every, kwargs) in DEFAULT_SCHEDULES.items():
        if names is not None and name not in names:
            continue
        existing = periodic_task_model.objects.filter(name=name).first()
        if existing is not None and not reset:
            continue
        interval, _ = interval_model.objects.get_or_create(every=every, period="seconds")
        offset = stable_offset(name, every)
        values = {
            "task": task_name,
            "interval": interval,
            "kwargs": json.dumps(kwargs),
            "enabled": True,
            "start_time": next_phase(every, offset),
            "description": "Installed by django-esi (esi_setup_schedules); edit freely.",
        }
        periodic_task_model.objects.update_or_create(name=name, defaults=values)
        done.append(name)
    return done


def on_schedule_deleted(sender: Any, instance: EndpointSchedule, **kwargs: Any) -> None:
    """``post_delete`` receiver: a deleted schedule takes its beat entry and chain with it."""
    remove_periodic_task(instance)
