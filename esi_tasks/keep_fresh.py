"""Keep resources fresh: fetch each again as soon as its cached copy expires, and never before.

A *chain* keeps one resource (operation + parameters + token) fresh. Its state is a Redis hash
under the fetch's identity, so starting it twice keeps one chain; its next run is a score in
the dispatcher's due set (:mod:`esi_tasks.dispatcher`), which sends the run on its second.

* :func:`start` starts one chain; :func:`start_many` starts thousands at once (pipelined writes,
  no message per chain) with first runs spread evenly over ``spread`` seconds;
* each run fetches, then is due again when the cache's copy expires (``Expires - Date`` after
  the answer arrived, see :attr:`~esi_tasks.fetching.FetchOutcome.fresh_for`) plus a small
  jitter (:func:`next_run_delay`: 0.2 s up to ``min(2 s, 10 % of the period)``);
* :func:`chains` and :func:`count` list and count them, :func:`cancel`, :func:`cancel_chain` and
  :func:`stop_all` stop them (``manage.py esi_keep_fresh list|count|stop``).

A chain whose state expires (nothing ran for ``max(3 * period, 1 h)``) is dead; an
``EndpointSchedule`` in keep-fresh mode restarts it from beat.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import time
from collections.abc import Iterable, Mapping
from typing import Any

from celery import current_app
from celery.utils import uuid

from esi._dates import default_date
from esi.client import get_client
from esi.exceptions import EsiRequestError
from esi.redis_pool import get_redis, queue_script
from esi_tasks import dispatcher, fetching
from esi_tasks._chain_list import START_BATCH, Chain, chains, count, count_late, stop_all
from esi_tasks._keys import canonical_operation, digest, fetch_identity
from esi_tasks._keys import text as _text
from esi_tasks.dispatcher import DUE_KEY, chain_key

__all__ = [
    "Chain",
    "cancel",
    "cancel_chain",
    "chains",
    "count",
    "count_late",
    "is_active",
    "is_news",
    "next_run_delay",
    "record_error",
    "run",
    "schedule_next",
    "start",
    "start_many",
    "state",
    "stop_all",
    "waiting_for",
]

logger = logging.getLogger(__name__)

MIN_DELAY = 1.0
#: Longest wait between two runs of a chain: a resource fresh for days (``x-cache-age`` up to
#: 30 days) is looked at every this many seconds (a run before ``Expires`` only waits again).
MAX_DELAY = 1800.0
FALLBACK_PERIOD = 300.0
#: Longest jitter added after the cache's expiry (the smallest is 0.2 s).
JITTER_MAX = 2.0


def _key(identity: str) -> str:
    """The Redis hash of the chain for one fetch identity (a chain id is ``<identity>:<generation>``)."""
    return chain_key(identity)


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


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat()


def _arm(pipe: Any, identity: str, chain_id: str, operation: str, kwargs: Mapping[str, Any], due: float) -> None:
    """Queue on ``pipe`` the writes that make ``chain_id`` due at ``due`` (its hash and its score)."""
    key = _key(identity)
    pipe.hset(
        key,
        mapping={
            "chain_id": chain_id,
            "call": json.dumps([operation, dict(kwargs)], separators=(",", ":")),
            "next_task_id": uuid(),
            "next_run": _iso(due),
        },
    )
    pipe.expire(key, _ttl(max(FALLBACK_PERIOD, due - time.time())))


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

    The first run is due at once. A chain whose next run is more than :data:`OVERDUE_AFTER`
    seconds late is restarted, so the keep-fresh schedule's watchdog revives a stuck chain.
    """
    identity = _identity(operation, params, token_id, all_pages, language)
    key = _key(identity)
    r = get_redis()
    chain_id = f"{identity}:{uuid()}"
    if restart or _overdue(r.hget(key, "next_run")):
        cancel_chain(r.hget(key, "chain_id"))
    if not r.hsetnx(key, "chain_id", chain_id):
        current = r.hget(key, "chain_id")
        if current is not None:
            return _text(current)
    pipe = r.pipeline(transaction=False)
    now = time.time()
    _arm(pipe, identity, chain_id, operation, _task_kwargs(chain_id, token_id, all_pages, language, params), now)
    pipe.zadd(DUE_KEY, {identity: now})
    token = dispatcher.guard_command(pipe)
    won = pipe.execute()[-1]
    dispatcher.ensure_ticking(pipe_won=bool(won), token=token)
    logger.info("keep-fresh %s started for %s", chain_id, operation)
    return chain_id


def _period(operation: str, compatibility_date: str | None) -> float:
    """The operation's cache age in the spec (``x-cache-age``), else :data:`FALLBACK_PERIOD`."""
    try:
        age = get_client(compatibility_date).spec.get(operation).cache_age
    except EsiRequestError:
        return FALLBACK_PERIOD
    return float(age or FALLBACK_PERIOD)


# Create one chain unless its resource has one: -> 1 (created) or the current chain id.
_CREATE = """
if redis.call('HSETNX', KEYS[1], 'chain_id', ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], 'call', ARGV[2], 'next_run', ARGV[3], 'next_task_id', ARGV[4])
  redis.call('EXPIRE', KEYS[1], ARGV[5])
  return 1
end
return redis.call('HGET', KEYS[1], 'chain_id')
"""


def _bulk_identity(operation: str, dates: dict[str | None, tuple[str, str]]) -> Any:
    """``fetch_identity`` for many calls of one operation: the operation and the date resolved
    once per date (the test suite checks both give the same identity)."""

    def identity(params: Mapping[str, Any], token_id: int | None, all_pages: bool, language: str | None) -> str:
        given = params.get("compatibility_date")
        if given not in dates:
            date = given or default_date()
            dates[given] = (canonical_operation(operation, date), date)
        op_id, date = dates[given]
        plain = {k: v for k, v in params.items() if k != "compatibility_date"}
        return digest(op_id, plain, token_id, bool(all_pages), language, False, date)

    return identity


def start_many(
    operation: str,
    params_list: Iterable[Mapping[str, Any]],
    *,
    spread: float | None = None,
    token_id: int | None = None,
    all_pages: bool = False,
    language: str | None = None,
) -> list[str]:
    """Start one chain per parameter set of ``params_list``; their chain ids, in order.

    Each mapping holds the operation's parameters and may hold its own ``token_id``,
    ``all_pages`` or ``language`` (else the arguments here). First runs are spread evenly over
    ``spread`` seconds (default: the operation's cache age), so no second has more than
    ``ceil(n / spread) + 1`` of them. Chains already running are kept (their ids returned). No
    message is sent per chain: one script call per chain and one ``ZADD`` per
    :data:`START_BATCH` chains, one pipeline (one round trip) per batch.
    """
    identity_of = _bulk_identity(operation, {})
    calls: list[tuple[str, str, dict[str, Any]]] = []
    for raw in params_list:
        params = dict(raw)
        tid = params.pop("token_id", token_id)
        pages = bool(params.pop("all_pages", all_pages))
        lang = params.pop("language", language)
        identity = identity_of(params, tid, pages, lang)
        chain_id = f"{identity}:{uuid()}"
        calls.append((identity, chain_id, _task_kwargs(chain_id, tid, pages, lang, params)))
    if not calls:
        return []
    if spread is None:
        spread = _period(operation, calls[0][2].get("compatibility_date"))
    if spread < 0:
        raise ValueError(f"spread must be >= 0 seconds, got {spread!r}.")
    r = get_redis()
    create = r.register_script(_CREATE)
    ids: list[str] = []
    now = time.time()
    step = spread / len(calls)
    for at in range(0, len(calls), START_BATCH):
        batch = calls[at : at + START_BATCH]
        pipe = r.pipeline(transaction=False)
        due: dict[str, float] = {}
        for i, (identity, chain_id, kwargs) in enumerate(batch):
            when = now + (at + i + random.random()) * step
            call = json.dumps([operation, kwargs], separators=(",", ":"))
            ttl = _ttl(max(FALLBACK_PERIOD, when - now))
            queue_script(pipe, create, [_key(identity)], [chain_id, call, _iso(when), uuid(), ttl])  # Cluster too
            due[identity] = when
        pipe.zadd(DUE_KEY, due, nx=True)  # a running chain keeps its next run
        answers = pipe.execute()
        for (_, chain_id, _kwargs), answer in zip(batch, answers, strict=False):
            ids.append(chain_id if answer == 1 else _text(answer))
    dispatcher.ensure_ticking()
    logger.info("keep-fresh: %s chains of %s started over %.0f s", len(calls), operation, spread)
    return ids


def is_active(chain_id: str) -> bool:
    """Whether ``chain_id`` is still the current chain of its resource (not cancelled or replaced)."""
    current = get_redis().hget(_chain_key(chain_id), "chain_id")
    return current is not None and _text(current) == chain_id


def state(chain_id: str) -> dict[str, str]:
    """What Redis knows of a chain: ``chain_id``, ``call``, ``next_task_id``, ``next_run``, and after
    a run ``runs``, ``expires`` and ``etag``; empty once the chain stopped."""
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
    pipe = r.pipeline(transaction=False)
    pipe.delete(key)
    pipe.zrem(DUE_KEY, chain_id.split(":", 1)[0])
    pipe.execute()
    if next_id is not None:  # a run already sent (due within seconds) stops when it sees this anyway
        try:
            current_app.control.revoke(_text(next_id))
        except Exception as exc:
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
    """When the cached copy the chain waits for expires (else its ``Expires``), if that is still
    more than :data:`MIN_DELAY` away (an early run)."""
    fresh_until, expires_at = get_redis().hmget(_chain_key(chain_id), "fresh_until", "expires")
    raw = fresh_until or expires_at
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
    fresh_until: dt.datetime | None = None,
) -> str | None:
    """Make the chain's next run due in ``delay`` seconds, if it is still current; its task id.

    ``expires``/``etag``/``fresh_until``: what the last fetch answered and when its cached copy
    expires (kept for early runs and :func:`is_news`).
    The dispatcher sends the run (``args``/``kwargs`` are those of the chain's stored call).
    """
    if not is_active(chain_id):
        return None
    task_id = str(uuid())
    due = time.time() + delay
    key = _chain_key(chain_id)
    fields: dict[Any, Any] = {"next_task_id": task_id, "next_run": _iso(due)}
    if expires is not None:
        fields["expires"] = expires.isoformat()
    if fresh_until is not None:
        fields["fresh_until"] = fresh_until.isoformat()
    if etag is not None:
        fields["etag"] = etag
    pipe = get_redis().pipeline(transaction=False)
    pipe.hset(key, mapping=fields)
    pipe.hincrby(key, "runs", 1)
    pipe.expire(key, _ttl(delay))
    pipe.zadd(DUE_KEY, {chain_id.split(":", 1)[0]: due})
    token = dispatcher.guard_command(pipe)
    won = pipe.execute()[-1]
    dispatcher.ensure_ticking(getattr(task, "app", None), pipe_won=bool(won), token=token)
    return task_id


def _fresh_until(outcome: fetching.FetchOutcome, now: dt.datetime) -> dt.datetime | None:
    """When the cached copy of ``outcome`` stops being fresh (the earliest a new fetch can help).

    A fresh answer: ``Expires - Date`` from now, as the cache counts it. One served from the cache
    was stored when it arrived, up to 1 s after its ``Date`` (cut to the second): ``Expires + 1 s``.
    """
    if outcome.fresh_for is not None:
        return now + dt.timedelta(seconds=outcome.fresh_for)
    if outcome.expires is not None:
        return outcome.expires + dt.timedelta(seconds=1)
    return None


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
    """One run of chain ``keep_id`` under ``task``'s policy: fetch, signal news, make the next run due."""
    if not is_active(keep_id):
        logger.info("keep-fresh %s is no longer current; stopping", keep_id)
        return None
    kwargs = _task_kwargs(keep_id, token_id, all_pages, language, params)
    early = waiting_for(keep_id)
    if early is not None:  # woken before Expires (a long wait's stop, a duplicate): wait again
        schedule_next(task, keep_id, (operation,), kwargs, next_run_delay(early))
        return None
    with task.policy(operation):
        outcome = fetching.fetch(operation, token_id=token_id, all_pages=all_pages, language=language, params=params)
    if is_news(keep_id, outcome.meta["etag"], outcome.meta["from_cache"]):
        outcome.announce(type(task), task.request.id)
    view = get_client(params.get("compatibility_date")).spec  # the chain's date travels among its params
    fresh_until = _fresh_until(outcome, dt.datetime.now(dt.UTC))
    delay = next_run_delay(fresh_until, view.get(operation).cache_age)
    schedule_next(
        task,
        keep_id,
        (operation,),
        kwargs,
        delay,
        expires=outcome.expires,
        etag=outcome.meta["etag"],
        fresh_until=fresh_until,
    )
    return outcome.data


def record_error(chain_id: str, exc: BaseException) -> None:
    """Stop the chain after a failure that retrying will not fix; the error is logged here and
    reaches receivers through ``fetch_failed``. A keep-fresh schedule's watchdog starts it again."""
    if is_active(chain_id):
        pipe = get_redis().pipeline(transaction=False)
        pipe.delete(_chain_key(chain_id))
        pipe.zrem(DUE_KEY, chain_id.split(":", 1)[0])
        pipe.execute()
    logger.warning("keep-fresh %s stopped: %s", chain_id, exc)
