"""What every ESI call did, counted per minute in Redis, without a Redis round trip of its own.

The client calls :func:`record` once per call (its outcome, status and milliseconds): a few dict
increments in this process, no I/O. The counts reach Redis at most once per
:data:`FLUSH_INTERVAL` per process, with a round trip the hot path makes anyway when there is
one: the next uncached call's limiter/cache round trip (:class:`~esi.client.limits.RoundTrip`)
carries them (:meth:`Recorder.ride`). A cache hit stays one ``GET``: what no round trip carried
within the interval is sent by a daemon thread (:meth:`Recorder.flush`, one pipeline per second
at most, only while there is something to send), so hits and a lone fetch show up too. A Redis
error drops the batch: counters are bookkeeping, never worth failing a call for. Nothing is
written to the database.

Keys (one hash tag, so that on Redis Cluster they live on one node)::

    esi:stats:{stats}:m:<unix minute>  hash  outcome -> calls; "ms" -> total ms of sent calls  (2 h)
    esi:stats:{stats}:total            hash  outcome -> calls since the key was created (/metrics)
    esi:stats:{stats}:ops              hash  "<operationId> <outcome>" -> calls (bounded by the spec)
    esi:stats:{stats}:recent           list  JSON of the last RECENT_KEEP calls, newest first
    esi:stats:{stats}:failures         list  JSON of the last FAILURES_KEEP failed calls, newest first

Outcomes (:data:`OUTCOMES`): ``hit`` (served from the cache, nothing sent), ``ok`` (2xx),
``not_modified`` (304: the stored body served), ``client_error`` (4xx), ``server_error`` (5xx
after the retries), ``unanswered`` (timeout, connection, Redis or body problems) and ``limited``
(held back by the rate or error limit, nothing sent).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import redis as redis_lib
from django.core.signals import setting_changed

from esi.app_settings import esi_settings
from esi.exceptions import EsiClientError, EsiLimited, EsiResponseError, EsiServerError
from esi.redis_pool import REDIS_ERRORS, get_redis

__all__ = [
    "BUCKET_TTL",
    "FAILURES_KEEP",
    "FLUSH_INTERVAL",
    "OUTCOMES",
    "RECENT_KEEP",
    "SENT",
    "Recorder",
    "keys",
    "outcome_of",
    "record",
    "recorder",
]

logger = logging.getLogger(__name__)

OUTCOMES = ("hit", "ok", "not_modified", "client_error", "server_error", "unanswered", "limited")
#: The outcomes of calls that went to ESI (the "requests" of the dashboard).
SENT = frozenset({"ok", "not_modified", "client_error", "server_error", "unanswered"})
FLUSH_INTERVAL = 1.0  # seconds between two flushes of one process
BUCKET_TTL = 2 * 3600  # seconds a minute's hash lives (the dashboard shows the last hour)
RECENT_KEEP = 50
FAILURES_KEEP = 50
_FLUSH_ERRORS: tuple[type[BaseException], ...] = (*REDIS_ERRORS, ValueError)  # ValueError: a bad ESI_REDIS_URL
_ERROR_CHARS = 300  # of a failure's message kept (EsiError messages carry no secrets)


class _Keys:
    """The Redis keys (see the module docstring)."""

    base = "esi:stats:{stats}:"
    total = base + "total"
    ops = base + "ops"
    recent = base + "recent"
    failures = base + "failures"

    def minute(self, minute: int) -> str:
        return f"{self.base}m:{minute}"


keys = _Keys()


def outcome_of(exc: BaseException) -> tuple[str, int | None]:
    """``(outcome, HTTP status or None)`` of a call that raised ``exc``."""
    if isinstance(exc, EsiLimited):
        return "limited", None
    if isinstance(exc, EsiResponseError):
        status = getattr(exc, "status", None)
        if isinstance(exc, EsiServerError) or (isinstance(status, int) and status >= 500):
            return "server_error", status
        if isinstance(exc, EsiClientError) or isinstance(status, int):
            return "client_error", status
    return "unanswered", None


class Recorder:
    """One process's counts not yet in Redis (a fork starts with none)."""

    def __init__(self, redis_factory: Callable[[], redis_lib.Redis] = get_redis) -> None:
        self._factory = redis_factory
        self._reset()
        # never fork in the middle of a flush: the child would inherit a Redis client or the
        # pool's lock held by the flusher thread (a multi-threaded fork copies held locks)
        os.register_at_fork(before=self._before_fork, after_in_parent=self._after_fork, after_in_child=self._reset)

    def _before_fork(self) -> None:
        self._sending.acquire()

    def _after_fork(self) -> None:
        self._sending.release()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._sending = threading.Lock()
        self._counts: dict[tuple[int, str], int] = {}
        self._ops: dict[tuple[str, str], int] = {}
        self._ms: dict[int, float] = {}
        self._recent: deque[tuple[Any, ...]] = deque(maxlen=RECENT_KEEP)
        self._failures: deque[tuple[Any, ...]] = deque(maxlen=FAILURES_KEEP)
        self._dirty = False
        self._last_flush = 0.0
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # --- the hot path: memory only ---------------------------------------------------------

    def record(
        self,
        operation: str,
        character_id: int | None,
        outcome: str,
        status: int | None,
        ms: float,
        error: BaseException | None = None,
    ) -> None:
        """Count one call (no I/O)."""
        now = time.time()
        minute = int(now // 60)
        with self._lock:
            counts = self._counts
            key = (minute, outcome)
            counts[key] = counts.get(key, 0) + 1
            op_key = (operation, outcome)
            self._ops[op_key] = self._ops.get(op_key, 0) + 1
            if outcome in SENT:
                self._ms[minute] = self._ms.get(minute, 0.0) + ms
            self._recent.append((now, operation, character_id, outcome, status, ms))
            if error is not None:
                self._failures.append((now, operation, character_id, outcome, status, ms, error))
            if not self._dirty:
                self._dirty = True
                self._arm()

    def due(self) -> bool:
        """Whether the next round trip should carry the counts (something new, interval passed)."""
        return self._dirty and time.monotonic() - self._last_flush >= FLUSH_INTERVAL

    def ride(self, pipe: Any) -> None:
        """Queue the held counts on ``pipe`` (a redis-py pipeline about to be sent anyway)."""
        with self._lock:
            if not self._dirty:
                return
            counts, ops, ms = self._counts, self._ops, self._ms
            recent, failures = list(self._recent), list(self._failures)
            self._counts, self._ops, self._ms = {}, {}, {}
            self._recent.clear()
            self._failures.clear()
            self._dirty = False
            self._last_flush = time.monotonic()
        totals: dict[str, int] = {}
        minutes: set[int] = set()
        for (minute, outcome), n in counts.items():
            pipe.hincrby(keys.minute(minute), outcome, n)
            totals[outcome] = totals.get(outcome, 0) + n
            minutes.add(minute)
        for minute, total_ms in ms.items():
            pipe.hincrbyfloat(keys.minute(minute), "ms", round(total_ms, 3))
        for minute in minutes:
            pipe.expire(keys.minute(minute), BUCKET_TTL)
        for outcome, n in totals.items():
            pipe.hincrby(keys.total, outcome, n)
        for (operation, outcome), n in ops.items():
            pipe.hincrby(keys.ops, f"{operation} {outcome}", n)
        if recent:
            pipe.lpush(keys.recent, *(_recent_json(row) for row in recent))
            pipe.ltrim(keys.recent, 0, RECENT_KEEP - 1)
        if failures:
            pipe.lpush(keys.failures, *(_failure_json(row) for row in failures))
            pipe.ltrim(keys.failures, 0, FAILURES_KEEP - 1)

    # --- the quiet tail: a daemon thread -------------------------------------------------------

    def flush(self) -> None:
        """Send what this process holds now, in a round trip of its own (the tail, exit, tests).

        When it returns, whatever was held before the call is in Redis (or dropped on an error).
        """
        with self._sending:
            if not self._dirty:
                return
            try:
                pipe = self._factory().pipeline(transaction=False)
                self.ride(pipe)
                pipe.execute(raise_on_error=False)
            except _FLUSH_ERRORS as exc:
                logger.debug("ESI call counters not recorded (Redis: %s)", exc)

    def drop(self) -> None:
        """Forget what this process holds (tests)."""
        with self._lock:
            self._counts, self._ops, self._ms = {}, {}, {}
            self._recent.clear()
            self._failures.clear()
            self._dirty = False

    def _arm(self) -> None:
        thread = self._thread
        if thread is None or not thread.is_alive():
            thread = self._thread = threading.Thread(target=self._tail, name="esi-counters", daemon=True)
            thread.start()
        self._wake.set()

    def _tail(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            while self._dirty:
                time.sleep(FLUSH_INTERVAL)
                if self.due():  # nobody's round trip carried them in the meantime
                    self.flush()


def _recent_json(row: tuple[Any, ...]) -> str:
    at, operation, character_id, outcome, status, ms = row
    return json.dumps(
        {
            "at": round(at, 3),
            "operation": operation,
            "character_id": character_id,
            "outcome": outcome,
            "status": status,
            "ms": round(ms, 1),
        },
        separators=(",", ":"),
    )


def _failure_json(row: tuple[Any, ...]) -> str:
    at, operation, character_id, outcome, status, ms, error = row
    message = str(error)
    if len(message) > _ERROR_CHARS:
        message = message[: _ERROR_CHARS - 1] + "…"
    return json.dumps(
        {
            "at": round(at, 3),
            "operation": operation,
            "character_id": character_id,
            "outcome": outcome,
            "status": status,
            "ms": round(ms, 1),
            "error": type(error).__name__,
            "message": message,
        },
        separators=(",", ":"),
    )


recorder = Recorder()
atexit.register(recorder.flush)

_enabled: bool | None = None


def enabled() -> bool:
    """``ESI_STATS``, read once per settings change."""
    global _enabled
    value = _enabled
    if value is None:
        value = _enabled = bool(esi_settings.ESI_STATS)
    return value


def _forget(setting: str = "", **kwargs: Any) -> None:
    global _enabled
    if setting == "ESI_STATS":
        _enabled = None


setting_changed.connect(_forget, dispatch_uid="esi.dashboard.counters")


def record(
    operation: str,
    character_id: int | None,
    started: float,
    *,
    response: Any = None,
    error: BaseException | None = None,
) -> None:
    """Count one client call: its :class:`~esi.client.EsiResponse`, or the ``error`` it raised.

    ``started`` is the call's ``time.perf_counter()`` at its start.
    """
    if not enabled():
        return
    ms = (time.perf_counter() - started) * 1000.0
    if error is not None:
        outcome, status = outcome_of(error)
        recorder.record(operation, character_id, outcome, status, ms, error)
    elif response.from_cache:
        recorder.record(operation, character_id, "hit", 200, ms)
    elif response.not_modified:
        recorder.record(operation, character_id, "not_modified", 304, ms)
    else:
        recorder.record(operation, character_id, "ok", response.status, ms)
