"""Keep one resource fresh: fetch it again right after its ``Expires`` passes, and never before.

:func:`start` sends ``esi_tasks.keep_fresh``; each run fetches, then sends itself again with
``eta = Expires + jitter`` (a little random delay so many chains do not hit ESI on the same
second). The chain's state lives in Redis under the fetch's identity, so starting it twice
keeps one chain, and :func:`cancel` stops it (the scheduled message is revoked, and a message
that runs anyway sees it is no longer current and stops). A chain whose state expires
(nothing ran for ``max(3 * period, 1 h)``) is dead; ``EndpointSchedule`` in keep-fresh mode
restarts it from beat.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from collections.abc import Mapping
from typing import Any

from celery.utils import uuid

from esi.redis_pool import get_redis
from esi_tasks._keys import PREFIX, fetch_identity
from esi_tasks._keys import text as _text

__all__ = [
    "cancel",
    "cancel_chain",
    "is_active",
    "is_news",
    "next_run_delay",
    "record_error",
    "run",
    "schedule_next",
    "start",
    "state",
    "waiting_for",
]

logger = logging.getLogger(__name__)

MIN_DELAY = 1.0
#: Longest eta of one hop. With Redis as broker a message held longer than the transport's
#: ``visibility_timeout`` (default 1 h) is delivered again, so a resource that stays fresh for
#: days (``x-cache-age`` up to 30 days) is waited for in hops of at most this many seconds;
#: a hop that wakes before ``Expires`` only sends the next one (no fetch, no signal).
MAX_DELAY = 1800.0
FALLBACK_PERIOD = 300.0
JITTER_MAX = 5.0


def _key(identity: str) -> str:
    """The Redis hash of the chain for one fetch identity (a chain id is ``<identity>:<generation>``)."""
    return f"{PREFIX}:keep:{identity}"


def _chain_key(chain_id: str) -> str:
    return _key(chain_id.split(":", 1)[0])


def _identity(
    operation: str, params: Mapping[str, Any], token_id: int | None, all_pages: bool, language: str | None
) -> str:
    return fetch_identity(operation, params, token_id=token_id, all_pages=all_pages, language=language)


def _task_kwargs(
    keep_id: str, token_id: int | None, all_pages: bool, language: str | None, params: Mapping[str, Any]
) -> dict[str, Any]:
    """The keyword arguments of an ``esi_tasks.keep_fresh`` message (JSON only)."""
    return {"keep_id": keep_id, "token_id": token_id, "all_pages": all_pages, "language": language, **params}


def _ttl(period: float) -> int:
    return int(max(3 * period, 3600))


#: A chain whose next run is this late is taken for dead (its message was lost) and restarted.
OVERDUE_AFTER = 300.0


def _overdue(next_run: bytes | str | None) -> bool:
    if next_run is None:
        return False
    due = dt.datetime.fromisoformat(_text(next_run))
    return (dt.datetime.now(dt.UTC) - due).total_seconds() > OVERDUE_AFTER


def start(
    operation: str,
    *,
    token_id: int | None = None,
    all_pages: bool = False,
    language: str | None = None,
    restart: bool = False,
    **params: Any,
) -> str:
    """Start keeping ``operation(**params)`` fresh; returns the chain id (the current one if running).

    A chain whose next run is more than :data:`OVERDUE_AFTER` seconds late is restarted, so
    the keep-fresh schedule's watchdog revives a chain whose message was lost.
    """
    from esi_tasks.tasks import keep_fresh

    identity = _identity(operation, params, token_id, all_pages, language)
    key = _key(identity)
    r = get_redis()
    generation = uuid()
    chain_id = f"{identity}:{generation}"
    if restart or _overdue(r.hget(key, "next_run")):
        cancel_chain(r.hget(key, "chain_id"))
    if not r.hsetnx(key, "chain_id", chain_id):
        current = r.hget(key, "chain_id")
        if current is not None:
            return _text(current)
        r.hset(key, "chain_id", chain_id)
    r.expire(key, _ttl(FALLBACK_PERIOD))
    result = keep_fresh.apply_async((operation,), _task_kwargs(chain_id, token_id, all_pages, language, params))
    r.hset(key, mapping={"next_task_id": result.id, "next_run": dt.datetime.now(dt.UTC).isoformat()})
    logger.info("keep-fresh %s started for %s", chain_id, operation)
    return chain_id


def is_active(chain_id: str) -> bool:
    """Whether ``chain_id`` is still the current chain of its resource (not cancelled or replaced)."""
    current = get_redis().hget(_chain_key(chain_id), "chain_id")
    return current is not None and _text(current) == chain_id


def state(chain_id: str) -> dict[str, str]:
    """What Redis knows of a chain: ``chain_id``, ``next_task_id``, ``next_run``, and after a run
    ``runs``, ``expires`` and ``etag``; empty once the chain stopped."""
    raw = get_redis().hgetall(_chain_key(chain_id))
    return {_text(k): _text(v) for k, v in raw.items()}


def cancel_chain(chain_id: bytes | str | None) -> bool:
    """Stop the chain ``chain_id``; whether it was running."""
    if chain_id is None:
        return False
    chain_id = _text(chain_id)
    r = get_redis()
    key = _chain_key(chain_id)
    current = r.hget(key, "chain_id")
    if current is None or _text(current) != chain_id:
        return False
    next_id = r.hget(key, "next_task_id")
    r.delete(key)
    if next_id is not None:
        from esi_tasks.tasks import keep_fresh

        try:
            keep_fresh.app.control.revoke(_text(next_id))
        except Exception as exc:  # the chain stops anyway at its next run
            logger.info("could not revoke keep-fresh task %s: %s", next_id, exc)
    logger.info("keep-fresh %s cancelled", chain_id)
    return True


def cancel(
    operation: str, *, token_id: int | None = None, all_pages: bool = False, language: str | None = None, **params: Any
) -> bool:
    """Stop keeping ``operation(**params)`` fresh; whether a chain was running."""
    identity = _identity(operation, params, token_id, all_pages, language)
    current = get_redis().hget(_key(identity), "chain_id")
    return cancel_chain(current)


def next_run_delay(expires: dt.datetime | None, fallback: float | None = None, now: dt.datetime | None = None) -> float:
    """Seconds until the next fetch: just after ``expires``, plus jitter; ``fallback`` when unknown."""
    now = now or dt.datetime.now(dt.UTC)
    if expires is None:
        base = float(fallback or FALLBACK_PERIOD)
        period = base
    else:
        base = (expires - now).total_seconds()
        period = max(base, MIN_DELAY)
    jitter = random.uniform(0.2, max(0.2, min(JITTER_MAX, 0.1 * period)))
    return min(max(base, MIN_DELAY) + jitter, MAX_DELAY)


def waiting_for(chain_id: str, now: dt.datetime | None = None) -> dt.datetime | None:
    """The ``Expires`` the chain waits for, if it is still more than :data:`MIN_DELAY` away (an early hop)."""
    raw = get_redis().hget(_chain_key(chain_id), "expires")
    if not raw:
        return None
    expires = dt.datetime.fromisoformat(_text(raw))
    now = now or dt.datetime.now(dt.UTC)
    return expires if (expires - now).total_seconds() > MIN_DELAY else None


def is_news(chain_id: str, etag: str | None, from_cache: bool) -> bool:
    """Whether a run's answer is new to the chain's receivers (first run, fetched, or another ETag)."""
    if not from_cache or etag is None:
        return True
    last = get_redis().hget(_chain_key(chain_id), "etag")
    return last is None or _text(last) != etag


def schedule_next(
    task: Any,
    chain_id: str,
    args: Any,
    kwargs: Mapping[str, Any],
    delay: float,
    *,
    expires: dt.datetime | None = None,
    etag: str | None = None,
) -> str | None:
    """Send the chain's next run in ``delay`` seconds, if it is still current; its task id.

    ``expires``/``etag``: what the last fetch answered (kept for early hops and :func:`is_news`).
    """
    if not is_active(chain_id):
        return None
    eta = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=delay)
    result = task.apply_async(args, dict(kwargs), eta=eta)
    key = _chain_key(chain_id)
    pipe = get_redis().pipeline()
    fields: dict[Any, Any] = {"next_task_id": str(result.id), "next_run": eta.isoformat()}
    if expires is not None:
        fields["expires"] = expires.isoformat()
    if etag is not None:
        fields["etag"] = etag
    pipe.hset(key, mapping=fields)
    pipe.hincrby(key, "runs", 1)
    pipe.expire(key, _ttl(delay))
    pipe.execute()
    return str(result.id)


def run(
    task: Any,
    operation: str,
    *,
    keep_id: str,
    token_id: int | None,
    all_pages: bool,
    language: str | None,
    params: dict[str, Any],
) -> Any:
    """One run of chain ``keep_id`` under ``task``'s policy: fetch, signal news, send the next run."""
    from esi.client import get_client
    from esi_tasks import fetching

    if not is_active(keep_id):
        logger.info("keep-fresh %s is no longer current; stopping", keep_id)
        return None
    kwargs = _task_kwargs(keep_id, token_id, all_pages, language, params)
    early = waiting_for(keep_id)
    if early is not None:  # a hop of a long wait: nothing can have changed yet
        schedule_next(task, keep_id, (operation,), kwargs, next_run_delay(early))
        return None
    with task.policy(operation):
        outcome = fetching.fetch(operation, token_id=token_id, all_pages=all_pages, language=language, params=params)
    if is_news(keep_id, outcome.meta["etag"], outcome.meta["from_cache"]):
        outcome.announce(type(task), task.request.id)
    view = get_client(params.get("compatibility_date")).spec  # the chain's date travels among its params
    delay = next_run_delay(outcome.expires, view.get(operation).cache_age)
    schedule_next(task, keep_id, (operation,), kwargs, delay, expires=outcome.expires, etag=outcome.meta["etag"])
    return outcome.data


def record_error(chain_id: str, exc: BaseException) -> None:
    """Stop the chain after a failure that retrying will not fix; the error is logged here and
    reaches receivers through ``fetch_failed``. A keep-fresh schedule's watchdog starts it again."""
    if is_active(chain_id):
        get_redis().delete(_chain_key(chain_id))
    logger.warning("keep-fresh %s stopped: %s", chain_id, exc)
