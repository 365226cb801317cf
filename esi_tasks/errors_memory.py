"""Remembered 403/404 answers, kept as negative entries of the client's response cache.

ESI counts every error against the application's error limit, so the client stores a 403 or
404 under the call's cache key (see :mod:`esi.client._cache`): the same call, from a task or
from direct client code, raises the same error from the same one cache read, without a request,
until ESI's ``Expires`` on the error (at most ``ESI_ERROR_MEMORY_TIMEOUT`` seconds). Other
errors (5xx, 420, 429) are not remembered: they say nothing about the next attempt. The memory
is bookkeeping: when Redis does not answer, nothing is remembered or recalled and ESI is asked.

This module keeps the names earlier versions offered (:func:`forget` above all, for after a
player granted the missing role) on top of those entries.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from typing import Any

from esi.client import EsiClient, get_client
from esi.client._cache import NEGATIVE_STATUSES, CacheEntry, cache_key
from esi.client._operations import validate_params
from esi.exceptions import EsiClientError, EsiResponseError
from esi.redis_pool import REDIS_ERRORS, unavailable

__all__ = ["REMEMBERED_STATUSES", "forget", "recall", "remember"]

logger = logging.getLogger(__name__)

REMEMBERED_STATUSES = NEGATIVE_STATUSES


def _client_and_key(
    operation: str, params: Mapping[str, Any], character_id: int | None, date: str | None
) -> tuple[EsiClient, str, str]:
    """The client of ``date``, the cache key the client uses for this call (language ``en``) and the
    operationId; UnknownOperation/InvalidParameter as the client raises them."""
    client = get_client(date)
    op = client.spec.get(operation)
    values = validate_params(op, dict(params))
    key = cache_key(op.id, values, "en", client.compatibility_date, character_id if op.scopes else None)
    return client, key, op.id


def remember(
    exc: EsiResponseError,
    operation: str,
    params: Mapping[str, Any],
    character_id: int | None,
    compatibility_date: str | None = None,
) -> bool:
    """Store ``exc`` when it is a 403/404 and memory is on (the client does this itself for every
    answer it gets); whether it was stored."""
    if exc.status not in REMEMBERED_STATUSES:
        return False
    client, key, _ = _client_and_key(operation, params, character_id, compatibility_date)
    raw = exc.body if isinstance(exc.body, bytes) else _json(exc.body)
    entry = CacheEntry.from_error(exc.status, raw, {k.lower(): v for k, v in exc.headers.items()}, time.time())
    if entry is None:
        return False
    try:
        client.cache.redis().set(key, entry.dump(), px=max(1, int((entry.fresh_until - time.time()) * 1000)))
    except REDIS_ERRORS as err:  # bookkeeping: the next identical fetch asks ESI again
        logger.warning("%s's %s not remembered: Redis did not answer (%s)", operation, exc.status, type(err).__name__)
        return False
    return True


def recall(
    operation: str, params: Mapping[str, Any], character_id: int | None, compatibility_date: str | None = None
) -> EsiClientError | None:
    """The remembered error for this fetch (a fresh exception object), or ``None``."""
    client, key, op_id = _client_and_key(operation, params, character_id, compatibility_date)
    try:
        raw = client.cache.redis().get(key)
    except REDIS_ERRORS as exc:  # bookkeeping: without the memory, ESI is asked
        logger.warning("Error memory of %s not read: Redis did not answer (%s)", operation, type(exc).__name__)
        return None
    entry = client.cache.entry_of(key, raw)
    now = time.time()
    if entry is None or not entry.is_error or not entry.is_fresh(now):
        return None
    error = entry.error(op_id, now)
    return error if isinstance(error, EsiClientError) else None


def forget(
    operation: str, params: Mapping[str, Any], character_id: int | None, compatibility_date: str | None = None
) -> None:
    """Drop a remembered error (e.g. after the player granted the missing role); the next
    identical fetch asks ESI."""
    client, key, _ = _client_and_key(operation, params, character_id, compatibility_date)
    with unavailable("forgetting a remembered error"):
        client.cache.forget(key)


def _json(body: Any) -> bytes:
    return json.dumps(body, default=str).encode()
