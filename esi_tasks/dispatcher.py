"""The keep-fresh dispatcher: sends each chain's run when it falls due.

Every chain's next run is a score (a UNIX time) in one Redis sorted set, the *due set*. A tick
(task ``esi_tasks.keep_fresh_dispatch``, every :data:`TICK` seconds while the set is not empty)
claims the chains due within :data:`LOOKAHEAD` seconds and sends their runs with ``eta`` set to
the due time, so a run starts on its second and no worker holds a message for longer than
:data:`LOOKAHEAD`. Why this and not one ETA message per chain: Celery keeps ETA messages in the
worker's memory until they are due (100,000 chains = 100,000 messages held, each redelivered
after the broker's visibility timeout), and a duplicated message forks a chain in two; here a
chain is one score, whatever runs twice.

* **Claim** (a Lua script on the one key): the claimed chains' scores move to now +
  :data:`LEASE`. A run puts its next due time back; a run whose message was lost is sent again
  when the lease ends.
* **One tick chain** (:data:`TICK_KEY` holds its token): a tick that finds another token there
  stops, so ticks started twice (a delayed tick, a restart) fall back to one.
  :func:`ensure_ticking` (called by every start and every run, and by beat's
  ``esi: keep-fresh dispatcher`` entry once a minute) starts one when none runs.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from contextlib import AbstractContextManager, nullcontext
from typing import Any, cast

from celery import current_app
from celery.utils import uuid

from esi.redis_pool import get_redis
from esi_tasks import results
from esi_tasks._keys import PREFIX
from esi_tasks._keys import text as _text

__all__ = [
    "DISPATCH_TASK",
    "DUE_KEY",
    "LEASE",
    "LOOKAHEAD",
    "RUN_TASK",
    "TICK",
    "TICK_KEY",
    "chain_key",
    "dispatch",
    "ensure_ticking",
    "tick",
]

logger = logging.getLogger(__name__)

#: The sorted set of chains (member: fetch identity, score: when its next run is due).
DUE_KEY = f"{PREFIX}:keep:due"
#: The token of the running tick chain (expires if ticks stop).
TICK_KEY = f"{PREFIX}:keep:tick"
RUN_TASK = "esi_tasks.keep_fresh"
DISPATCH_TASK = "esi_tasks.keep_fresh_dispatch"
#: Seconds between ticks.
TICK = 1.0
#: A tick sends the runs due within this many seconds (with ``eta``): more than :data:`TICK`, so
#: no run waits for the next tick.
LOOKAHEAD = 2.0
#: Seconds a claimed chain waits for its run before it is sent again (its message was lost).
LEASE = 600.0
#: How long the tick token lives without a tick (then :func:`ensure_ticking` starts a new one).
TICK_GUARD = 10.0
#: Chains claimed per script call (what one round of sending publishes).
BATCH = 200
#: Seconds one tick may spend sending: a tick never holds a worker for long, and what it did not
#: reach stays due (unclaimed, counted by ``keep_fresh.count_late()``) for the next tick, which
#: then starts at once. A tick publishes ~1,000-2,000 runs a second (Celery's cost per message;
#: kombu's publish batch sends them one pipeline per :data:`BATCH`).
TICK_BUDGET = 0.8

# Claim: the members due by ARGV[1] (at most ARGV[3]) get the score ARGV[2] (the lease).
_CLAIM = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[3]))
for i = 1, #due, 2 do
  redis.call('ZADD', KEYS[1], ARGV[2], due[i])
end
return due
"""


def chain_key(identity: str) -> str:
    """The Redis hash of the chain of one fetch identity."""
    return f"{PREFIX}:keep:{identity}"


def _claim_script() -> Any:
    return get_redis().register_script(_CLAIM)


def _eta(due: float, now: float) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(due, dt.UTC) if due > now else None


def _send_runs(app: Any, claimed: list[tuple[str, float]], now: float) -> int:
    """Send the runs of ``claimed`` chains (identity, due); drop members whose chain is gone."""
    r = get_redis()
    pipe = r.pipeline(transaction=False)
    for identity, _due in claimed:
        pipe.hmget(chain_key(identity), "call", "next_task_id")
    rows = pipe.execute()
    task = app.tasks[RUN_TASK]
    options = results.scheduled_options()
    gone: list[str] = []
    sent = 0
    try:
        with app.producer_or_acquire() as producer, _batched(producer):  # one producer, one pipeline
            for (identity, due), (call, task_id) in zip(claimed, rows, strict=True):
                if call is None:
                    gone.append(identity)
                    continue
                operation, kwargs = json.loads(call)
                run_id = _text(task_id) if task_id else None
                task.apply_async((operation,), kwargs, task_id=run_id, eta=_eta(due, now), producer=producer, **options)
                sent += 1
    except Exception:
        # What the batch did not publish is due again at once, not after the lease (a run sent
        # twice finds its copy still fresh and only waits again: see keep_fresh.run).
        r.zadd(DUE_KEY, {identity: due for identity, due in claimed}, xx=True)
        raise
    if gone:
        r.zrem(DUE_KEY, *gone)
    return sent


def _batched(producer: Any) -> AbstractContextManager[Any]:
    """``producer.batch()``: kombu (>= 5.7, Redis) sends the batch's messages in one pipeline
    instead of one round trip each; older kombu, or a transport without it, sends one by one."""
    batch = getattr(producer, "batch", None)
    if batch is None or not getattr(producer, "supports_batch_publish", False):
        return nullcontext()
    return cast(AbstractContextManager[Any], batch(max_size=BATCH * 2))


def dispatch(app: Any = None, now: float | None = None, budget: float = TICK_BUDGET) -> int:
    """Send the runs due within :data:`LOOKAHEAD` seconds, for at most ``budget`` seconds; how
    many were sent (``now``: the time to dispatch for, tests only)."""
    return _dispatch(app or current_app, now, budget)[0]


def _dispatch(app: Any, now: float | None, budget: float) -> tuple[int, bool]:
    """:func:`dispatch`, and whether runs are still due (the budget ran out first)."""
    script = _claim_script()
    sent = 0
    started = time.monotonic()
    while True:
        at = time.time() if now is None else now
        raw = script(keys=[DUE_KEY], args=[at + LOOKAHEAD, at + LEASE, BATCH])
        claimed = [(_text(raw[i]), float(raw[i + 1])) for i in range(0, len(raw), 2)]
        if claimed:
            sent += _send_runs(app, claimed, at)
        if len(claimed) < BATCH:
            return sent, False
        if time.monotonic() - started > budget:
            return sent, True


def _send_tick(app: Any, token: str, countdown: float | None = None) -> None:
    app.tasks[DISPATCH_TASK].apply_async((), {"token": token}, countdown=countdown, ignore_result=True)


def ensure_ticking(app: Any = None, pipe_won: bool | None = None, token: str | None = None) -> bool:
    """Start a tick chain unless one runs; whether one was started.

    ``pipe_won``/``token``: the caller already ran ``SET TICK_KEY token NX`` in its own pipeline
    (see :func:`guard_command`) and passes its answer, to save a round trip.
    """
    app = app or current_app
    if pipe_won is None:
        token = uuid()
        pipe_won = bool(get_redis().set(TICK_KEY, token, nx=True, px=int(TICK_GUARD * 1000)))
    if not pipe_won or token is None:
        return False
    try:
        _send_tick(app, token)
    except Exception:
        get_redis().delete(TICK_KEY)  # let the next caller try again
        raise
    logger.info("keep-fresh dispatcher started (tick %s)", token)
    return True


def guard_command(pipe: Any) -> str:
    """Queue ``SET TICK_KEY <token> NX`` on ``pipe``; its answer goes to :func:`ensure_ticking`."""
    token = str(uuid())
    pipe.set(TICK_KEY, token, nx=True, px=int(TICK_GUARD * 1000))
    return token


def tick(app: Any, token: str | None) -> int:
    """One tick of chain ``token``: dispatch, then send the next tick while chains remain.

    Without a token (beat's watchdog entry, or by hand) it only makes sure a tick chain runs.
    """
    r = get_redis()
    if token is None:
        ensure_ticking(app)
        return 0
    current = r.get(TICK_KEY)
    if current is not None and _text(current) != token:
        logger.debug("keep-fresh tick %s stops: tick %s runs", token, _text(current))
        return 0
    started = time.monotonic()
    sent, behind = _dispatch(app, None, TICK_BUDGET)
    pipe = r.pipeline(transaction=False)
    pipe.zcard(DUE_KEY)
    pipe.set(TICK_KEY, token, px=int(TICK_GUARD * 1000))
    waiting, _ = pipe.execute()
    if not waiting:
        r.delete(TICK_KEY)  # nothing to wait for: the next start begins a new tick chain
        return sent
    # Ticks start TICK apart, not TICK after the work; with runs still due, the next starts at once.
    _send_tick(app, token, countdown=None if behind else max(0.0, TICK - (time.monotonic() - started)))
    return sent
