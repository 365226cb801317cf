"""A worker does not sleep long for ESI: every task it runs has an in-process wait limit.

``ESI_MAX_IN_PROCESS_WAIT`` (seconds) is set as the limit of :mod:`esi._backoff` for each task
run by a worker (``task_prerun``/``task_postrun``; eager runs and direct calls keep the
client's own short waits). A server error whose ``Retry-After`` asks for more ends the call with
:class:`~esi.exceptions.EsiRetryLater`, an ``EsiLimited``: the task base class re-queues the
message with that countdown, as for a rate or error limit, and the worker takes the next task.
"""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from celery import signals

from esi._backoff import limit_waits, unlimit_waits
from esi.app_settings import esi_settings

__all__: list[str] = []

_TOKEN = "esi_wait_limit_token"


@signals.task_prerun.connect(dispatch_uid="esi_tasks.waits.prerun")  # type: ignore[untyped-decorator]
def _limit(task: Any = None, **_: Any) -> None:
    request = getattr(task, "request", None)
    if request is None or request.is_eager:
        return
    setattr(request, _TOKEN, limit_waits(float(esi_settings.ESI_MAX_IN_PROCESS_WAIT)))


@signals.task_postrun.connect(dispatch_uid="esi_tasks.waits.postrun")  # type: ignore[untyped-decorator]
def _unlimit(task: Any = None, **_: Any) -> None:
    request = getattr(task, "request", None)
    token = getattr(request, _TOKEN, None)
    if token is not None:
        setattr(request, _TOKEN, None)
        with suppress(ValueError):  # set in another context (a pool that switched it): that one ends anyway
            unlimit_waits(token)
