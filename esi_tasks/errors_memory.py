"""Remembered 403/404 answers: ESI counts every error against the application's error limit.

A 403 or 404 for one operation, parameters and character is stored in Redis for
``ESI_ERROR_MEMORY_TIMEOUT`` seconds; the same fetch in that time raises the remembered error
at once, without a request. Other errors (5xx, 420, 429) are not remembered: they say nothing
about the next attempt. The memory is bookkeeping: when Redis does not answer, nothing is
remembered or recalled and ESI is asked.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from esi.app_settings import esi_settings
from esi.exceptions import EsiClientError, EsiForbidden, EsiNotFound, EsiResponseError
from esi.redis_pool import REDIS_ERRORS, get_redis, unavailable
from esi_tasks._keys import PREFIX, canonical_operation, digest

__all__ = ["REMEMBERED_STATUSES", "forget", "recall", "remember"]

logger = logging.getLogger(__name__)

REMEMBERED_STATUSES = frozenset({403, 404})


def _key(operation: str, params: Mapping[str, Any], character_id: int | None, date: str | None = None) -> str:
    """One key per operation, parameters, character and compatibility date (each view its own answers;
    no date: the default client's)."""
    if date is None:
        from esi._dates import default_date

        date = default_date()
    return f"{PREFIX}:errmem:{digest(canonical_operation(operation, date), dict(params), character_id, date)}"


def remember(
    exc: EsiResponseError,
    operation: str,
    params: Mapping[str, Any],
    character_id: int | None,
    compatibility_date: str | None = None,
) -> bool:
    """Store ``exc`` when it is a 403/404 and memory is on; whether it was stored."""
    timeout = int(esi_settings.ESI_ERROR_MEMORY_TIMEOUT)
    if timeout <= 0 or exc.status not in REMEMBERED_STATUSES:
        return False
    body = exc.body if isinstance(exc.body, dict | list | str | int | float | type(None)) else str(exc.body)
    value = json.dumps({"status": exc.status, "body": body, "message": str(exc)})
    try:
        get_redis().set(_key(operation, params, character_id, compatibility_date), value, ex=timeout)
    except REDIS_ERRORS as err:  # bookkeeping: the next identical fetch asks ESI again
        logger.warning("%s's %s not remembered: Redis did not answer (%s)", operation, exc.status, type(err).__name__)
        return False
    return True


def recall(
    operation: str, params: Mapping[str, Any], character_id: int | None, compatibility_date: str | None = None
) -> EsiClientError | None:
    """The remembered error for this fetch (a fresh exception object), or ``None``."""
    if int(esi_settings.ESI_ERROR_MEMORY_TIMEOUT) <= 0:
        return None
    key = _key(operation, params, character_id, compatibility_date)
    r = get_redis()
    try:
        raw = r.get(key)
        if raw is None:
            return None
        ttl = r.ttl(key)
    except REDIS_ERRORS as exc:  # bookkeeping: without the memory, ESI is asked
        logger.warning("Error memory of %s not read: Redis did not answer (%s)", operation, type(exc).__name__)
        return None
    stored = json.loads(raw)
    cls = EsiForbidden if stored["status"] == 403 else EsiNotFound
    message = (
        f"{stored['message']} (remembered: ESI gave this answer recently; it is not asked again for "
        f"{max(ttl, 0)} s, see ESI_ERROR_MEMORY_TIMEOUT)"
    )
    operation = canonical_operation(operation, compatibility_date)
    return cls(stored["status"], stored["body"], operation=operation, message=message)


def forget(
    operation: str, params: Mapping[str, Any], character_id: int | None, compatibility_date: str | None = None
) -> None:
    """Drop a remembered error (e.g. after the player granted the missing role)."""
    with unavailable("forgetting a remembered error"):
        get_redis().delete(_key(operation, params, character_id, compatibility_date))
