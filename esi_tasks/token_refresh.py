"""Token refresh as plain functions: one token, a lane of tokens, and the sweep's selection.

The sweep (``esi_tasks.refresh_tokens``, installed in beat every 5 minutes by default) picks:

* tokens **in use** whose access token lapses before the next sweep (expires within
  ``ESI_TOKEN_REFRESH_MARGIN`` + the sweep interval): renewed ahead, so no fetch waits on SSO.
  "In use" means the access token is still valid and was not renewed by the sweep itself, so an
  idle token is renewed at most once ahead and then drops out;
* every refreshable token **not validated** for ``ESI_TOKEN_VALIDATION_PERIOD`` seconds
  (its row was not updated by a login or refresh in that time): refreshing it asks SSO whether
  the player still allows access; refused tokens are deleted by ``esi`` (``token_invalidated``).

The tokens are split into at most ``ESI_REFRESH_SWEEP_CONCURRENCY`` lanes, each one task that
refreshes its tokens one after the other, so no more than that many refreshes hit SSO at once.

Progress: :func:`begin_sweep` records the sweep in Redis (:mod:`esi.tokens`' record, which
``esi_status`` reads without importing this package); every token a lane handles adds to it, and
the lane's Celery state is ``PROGRESS`` with its counts. :func:`sweep_progress` reads it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.db.models import Q
from django.utils import timezone

from esi.app_settings import esi_settings
from esi.models import Token
from esi.redis_pool import REDIS_ERRORS, get_redis, mget
from esi.tokens import Outcome, Renewal, SweepProgress, SweepRecorder, refresh, refresh_many
from esi.tokens import sweep_progress as _read_progress
from esi_tasks._keys import PREFIX
from esi_tasks.broker import BROKER_ERRORS

__all__ = [
    "DEFAULT_SWEEP_INTERVAL",
    "SweepProgress",
    "begin_sweep",
    "lanes_still_running",
    "refresh_lane",
    "refresh_one",
    "remember_lanes",
    "select_for_sweep",
    "split_lanes",
    "sweep_progress",
    "sweep_summary",
]

logger = logging.getLogger(__name__)

DEFAULT_SWEEP_INTERVAL = 300
ACCESS_TOKEN_LIFETIME = 1200


def _swept_key(token_id: int) -> str:
    return f"{PREFIX}:swept:{token_id}"


def refresh_one(token_id: int, *, by_sweep: bool = False) -> str:
    """Refresh one token at SSO now: ``"refreshed"``, ``"invalid"`` (deleted), ``"not_refreshable"``,
    ``"failed"`` (kept: SSO's answer did not verify, or was another character's) or ``"missing"``.

    ``SSOUnavailable`` and ``RedisUnavailable`` propagate (worth a retry), by :mod:`esi.tokens`' policy.
    """
    token = Token.objects.filter(pk=token_id).first()
    if token is None:
        return "missing"
    result = refresh(token, force=True)
    if result.outcome is Outcome.UNAVAILABLE:
        result.raise_error()
    if result.outcome is Outcome.INVALID:
        logger.info("token %s of character %s refused by SSO", token_id, token.character_id)
    if by_sweep and result.outcome is Outcome.REFRESHED:
        _mark_swept(token_id)
    return "refreshed" if result.ok else result.outcome.value


def _mark_swept(token_id: int, pipe: Any = None) -> None:
    """Note that the sweep itself renewed the token (it is not renewed ahead again while idle)."""
    if pipe is not None:
        pipe.set(_swept_key(token_id), 1, ex=ACCESS_TOKEN_LIFETIME)
        return
    try:
        get_redis().set(_swept_key(token_id), 1, ex=ACCESS_TOKEN_LIFETIME)
    except REDIS_ERRORS as exc:
        logger.warning("token %s: the sweep's mark was not stored (%s)", token_id, type(exc).__name__)


#: Outcomes that leave a token not renewed (the sweep's "failed").
FAILED_OUTCOMES = frozenset(o.value for o in Outcome if o.failed)
#: A lane's Celery state is updated about this many times over the lane (and at its end).
STATE_UPDATES = 50

#: ``report(meta)``: the lane's progress as JSON, for the task's ``update_state``.
Report = Callable[[dict[str, Any]], None]


def _renewal(sweep: Mapping[str, Any] | None) -> Renewal | None:
    if not sweep or sweep.get("started") is None or sweep.get("horizon") is None:
        return None
    return Renewal(
        since=dt.datetime.fromtimestamp(float(sweep["started"]), tz=dt.UTC),
        lasts_past=dt.datetime.fromtimestamp(float(sweep["horizon"]), tz=dt.UTC),
    )


def refresh_lane(
    token_ids: Iterable[int],
    on_progress: Callable[[int, str], None] | None = None,
    *,
    sweep: Mapping[str, Any] | None = None,
    report: Report | None = None,
) -> dict[str, int]:
    """Refresh ``token_ids`` one after the other; counts per outcome (:class:`esi.tokens.Outcome` values).

    Two SQL statements per token (the rows are loaded a chunk at a time). ``sweep`` (from
    :func:`begin_sweep`) names the sweep whose progress each token adds to, and makes a lane run
    again after it was killed skip what it already renewed (``"fresh"``: nothing sent to SSO).
    A token's failure, whatever it is, is counted and the lane goes on. ``report`` gets the
    lane's progress about :data:`STATE_UPDATES` times and at the end.
    """
    ids = list(token_ids)
    recorder = SweepRecorder(str(sweep["id"])) if sweep else None
    step = max(1, len(ids) // STATE_UPDATES)
    counts: dict[str, int] = {}
    failed = 0
    results = refresh_many(ids, force=True, renewed=_renewal(sweep))
    for index, result in enumerate(results, start=1):
        outcome, token_id = result.outcome.value, int(result.token_id or 0)
        if result.outcome is Outcome.UNAVAILABLE:
            logger.info("token %s: %s; the next sweep tries again", token_id, result.error)
        counts[outcome] = counts.get(outcome, 0) + 1
        failed += result.outcome.failed
        swept = result.outcome is Outcome.REFRESHED
        recorded = None
        if recorder is not None:
            also = (lambda pipe, pk=token_id: _mark_swept(pk, pipe)) if swept else None
            recorded = recorder.record(outcome, failed=result.outcome.failed, also=also)
        elif swept:
            _mark_swept(token_id)
        if on_progress is not None:
            on_progress(token_id, outcome)
        if report is not None and (index % step == 0 or index == len(ids)):
            meta: dict[str, Any] = {"lane_total": len(ids), "lane_done": index, "lane_failed": failed, "counts": counts}
            if sweep:
                meta.update(sweep_id=sweep["id"], sweep_total=sweep.get("total"))
            if recorded is not None:
                meta.update(sweep_done=recorded.done, sweep_failed=recorded.failed)
            _report(report, meta)
    if recorder is not None:
        recorder.lane_done()
    return counts


def sweep_progress(sweep_id: str | None = None) -> SweepProgress | None:
    """The latest sweep's progress (or sweep ``sweep_id``'s): done/total/failed/ETA, ``None`` if none
    was recorded in the last hour. ``RedisUnavailable`` if Redis does not answer."""
    return _read_progress(sweep_id)


_STATE_ERRORS: tuple[type[BaseException], ...] = (*BROKER_ERRORS, RuntimeError)


def _report(report: Report, meta: dict[str, Any]) -> None:
    """The lane's task state is bookkeeping: a result backend that does not answer never ends the lane."""
    try:
        report(meta)
    except _STATE_ERRORS as exc:  # Celery wraps a backend's spent retries in RuntimeError
        if isinstance(exc, RuntimeError) and not isinstance(exc.__cause__, BROKER_ERRORS):
            raise
        logger.warning("A sweep lane's progress state was not stored (%s)", type(exc).__name__)


def begin_sweep(
    ids: list[int], lanes: list[list[int]], source: str, interval: float = DEFAULT_SWEEP_INTERVAL
) -> dict[str, Any]:
    """Record a new sweep of ``ids`` in ``lanes``; the JSON handed to each lane (``sweep=``)."""
    recorder = SweepRecorder.start(total=len(ids), lanes=len(lanes), source=source)
    now = timezone.now()
    horizon = now + dt.timedelta(seconds=float(esi_settings.ESI_TOKEN_REFRESH_MARGIN) + interval)
    return {"id": recorder.sweep_id, "total": len(ids), "started": now.timestamp(), "horizon": horizon.timestamp()}


def select_for_sweep(now: dt.datetime | None = None, interval: float = DEFAULT_SWEEP_INTERVAL) -> list[int]:
    """The ids of the tokens the sweep refreshes now (see the module doc), oldest need first."""
    now = now or timezone.now()
    refreshable = Token.objects.exclude(refresh_token__isnull=True).exclude(refresh_token="")
    horizon = now + dt.timedelta(seconds=float(esi_settings.ESI_TOKEN_REFRESH_MARGIN) + interval)
    lapsing = list(
        refreshable.filter(access_token_expires__gt=now, access_token_expires__lte=horizon)
        .order_by("access_token_expires")
        .values_list("pk", flat=True)
    )
    if lapsing:
        swept = mget(get_redis(), [_swept_key(pk) for pk in lapsing])  # one MGET per slot on a cluster
        lapsing = [pk for pk, mark in zip(lapsing, swept, strict=True) if mark is None]
    stale_before = now - dt.timedelta(seconds=int(esi_settings.ESI_TOKEN_VALIDATION_PERIOD))
    unvalidated = list(
        refreshable.filter(Q(updated__lte=stale_before)).order_by("updated").values_list("pk", flat=True)
    )
    seen: set[int] = set()
    out: list[int] = []
    for pk in [*lapsing, *unvalidated]:
        if pk not in seen:
            seen.add(pk)
            out.append(pk)
    return out


def split_lanes(ids: list[int], lanes: int) -> list[list[int]]:
    """``ids`` dealt round-robin into at most ``lanes`` non-empty lists."""
    lanes = max(1, min(int(lanes), len(ids)))
    return [ids[i::lanes] for i in range(lanes)] if ids else []


_LANES_KEY = f"{PREFIX}:sweep:lanes"
#: Longest time a sweep's lanes hold off the next sweep (a lost lane stops blocking after this).
LANES_HOLD = 3600


def remember_lanes(task_ids: list[str]) -> None:
    """Note the lanes of this sweep, so the next one waits for them."""
    get_redis().set(_LANES_KEY, json.dumps(task_ids), ex=LANES_HOLD)


def lanes_still_running(async_result: Callable[[str], Any]) -> list[str]:
    """The previous sweep's lanes that have not finished (``async_result``: task id -> AsyncResult)."""
    raw = get_redis().get(_LANES_KEY)
    if raw is None:
        return []
    return [task_id for task_id in json.loads(raw) if not async_result(task_id).ready()]


def sweep_summary(
    lanes: list[list[int]], task_ids: list[str], sweep: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """What the sweep task returns; ``sweep_id`` names its progress (:func:`sweep_progress`)."""
    summary: dict[str, Any] = {"tokens": sum(len(lane) for lane in lanes), "lanes": len(lanes), "task_ids": task_ids}
    if sweep is not None:
        summary["sweep_id"] = sweep["id"]
    return summary
