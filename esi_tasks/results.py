"""What ESI tasks leave in Celery's result backend, and for how long.

* Keep-fresh runs and schedule runs sent by beat store **no result** unless
  ``ESI_TASK_STORE_SCHEDULED_RESULTS`` is on: nobody waits for them, and one key per run per
  resource piles up (1,000 chains at a 5-minute Expires make ~290,000 keys a day at Celery's
  default ``result_expires`` of one day). Opted in, they live ``ESI_TASK_RESULT_EXPIRES`` seconds.
  A call made by hand (``keep_fresh.apply_async(...)``, ``run_schedule.delay(pk)``) keeps
  Celery's normal semantics: its result is stored.
* ``fetch_endpoint`` results keep Celery's semantics; ``ESI_TASK_RESULT_MAX_BYTES`` caps their
  size (:class:`~esi.exceptions.EsiResultTooLarge`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from esi.app_settings import esi_settings
from esi.exceptions import EsiConfigurationError, EsiResultTooLarge

__all__ = [
    "BEAT_HEADERS",
    "check_size",
    "is_from_beat",
    "keep_scheduled",
    "scheduled_options",
    "sent_by_beat",
    "shorten_retention",
]

logger = logging.getLogger(__name__)

#: Message headers beat puts on what it sends (Celery's beat, django-celery-beat's scheduler).
BEAT_HEADERS = ("celery_beat_task", "periodic_task_name")


def keep_scheduled() -> bool:
    """Whether keep-fresh and beat-sent runs store their results (``ESI_TASK_STORE_SCHEDULED_RESULTS``)."""
    return bool(esi_settings.ESI_TASK_STORE_SCHEDULED_RESULTS)


def scheduled_options() -> dict[str, Any]:
    """``apply_async`` options for a run nobody waits for (a keep-fresh run, a beat-sent run)."""
    return {"ignore_result": not keep_scheduled()}


def is_from_beat(options: Mapping[str, Any]) -> bool:
    """Whether ``apply_async`` options are beat's (it adds :data:`BEAT_HEADERS`)."""
    headers = options.get("headers") or {}
    return any(name in headers for name in BEAT_HEADERS)


def sent_by_beat(request: Any) -> bool:
    """Whether a running task's message came from beat (Celery shows custom headers as
    request attributes, and some versions in ``request.headers``)."""
    headers = getattr(request, "headers", None) or {}
    return any(name in headers or getattr(request, name, None) is not None for name in BEAT_HEADERS)


def shorten_retention(task: Any, task_id: str) -> None:
    """Give a stored keep-fresh/scheduled result ``ESI_TASK_RESULT_EXPIRES`` seconds to live.

    Celery's ``result_expires`` is one value for every task; this sets the key's own TTL after
    Celery stored it (result backends with keys and TTLs: Redis, Valkey). Bookkeeping: a failure
    is logged, never raised.
    """
    seconds = int(esi_settings.ESI_TASK_RESULT_EXPIRES)
    if seconds <= 0:
        raise EsiConfigurationError(f"ESI_TASK_RESULT_EXPIRES is {seconds}; it must be a positive number of seconds.")
    backend = task.backend
    expire = getattr(backend, "expire", None)
    key_for = getattr(backend, "get_key_for_task", None)
    if expire is None or key_for is None:
        return
    try:
        expire(key_for(task_id), seconds)
    except Exception as exc:  # the result stays for Celery's result_expires instead
        logger.warning("could not shorten the result retention of %s[%s]: %s", task.name, task_id, exc)


def check_size(data: Any, operation: str | None = None) -> None:
    """Refuse a result above ``ESI_TASK_RESULT_MAX_BYTES`` of JSON (no cap: nothing is measured)."""
    limit = esi_settings.ESI_TASK_RESULT_MAX_BYTES
    if limit is None:
        return
    if limit <= 0:
        raise EsiConfigurationError(f"ESI_TASK_RESULT_MAX_BYTES is {limit}; it must be a positive number or None.")
    size = len(json.dumps(data, separators=(",", ":")).encode())
    if size > limit:
        raise EsiResultTooLarge(size, limit, operation)
