"""The progress of a token sweep, kept in Redis while it runs: done, total, failed, ETA.

A sweep (the beat task's lanes, ``manage.py esi_refresh_tokens``) is started with
:meth:`SweepRecorder.start`, which writes one small hash per sweep and points
``esi:token-sweep:current`` at it; every refreshed token adds one to it in one pipelined round
trip (the sweep-wide counts come back with it, so a lane can report them without a read).
:func:`sweep_progress` reads the current (or a named) sweep for ``esi_status``, the dashboard and
``esi_tasks.token_refresh.sweep_progress``.

Bounded: one hash of fixed fields per sweep, expiring :data:`PROGRESS_TTL` seconds after its last
update. The record is bookkeeping: a Redis that does not answer costs the record, never a refresh
(``record`` logs and goes on); reading it raises :class:`~esi.exceptions.RedisUnavailable`.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from esi.exceptions import RedisUnavailable
from esi.redis_pool import REDIS_ERRORS, get_redis

__all__ = ["PROGRESS_TTL", "SweepProgress", "SweepRecorder", "sweep_progress"]

logger = logging.getLogger(__name__)

#: Seconds a sweep's record outlives its last update.
PROGRESS_TTL = 3600
_PREFIX = "esi:token-sweep"
_CURRENT = f"{_PREFIX}:current"
_COUNT = "n:"  # hash fields "n:<outcome>" count the tokens per outcome


def _key(sweep_id: str) -> str:
    return f"{_PREFIX}:{sweep_id}"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _moment(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, tz=dt.UTC)


@dataclass(frozen=True)
class SweepProgress:
    """One sweep as last recorded: ``done`` of ``total`` tokens, ``failed`` of them not renewed."""

    sweep_id: str
    source: str
    total: int
    done: int
    failed: int
    lanes: int
    lanes_done: int
    started: dt.datetime
    updated: dt.datetime
    counts: Mapping[str, int] = field(default_factory=dict)

    @property
    def remaining(self) -> int:
        return max(0, self.total - self.done)

    @property
    def finished(self) -> bool:
        """Every token was handled (a lane that died leaves the sweep unfinished until it expires)."""
        return self.done >= self.total

    @property
    def rate(self) -> float | None:
        """Tokens per second so far; ``None`` before the first one."""
        elapsed = (self.updated - self.started).total_seconds()
        return self.done / elapsed if self.done and elapsed > 0 else None

    @property
    def eta(self) -> float | None:
        """Seconds left at the rate so far (0 when finished); ``None`` while no rate is known."""
        if self.finished:
            return 0.0
        rate = self.rate
        return self.remaining / rate if rate else None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: what ``esi_status --json`` and the lanes' task state show."""
        return {
            "sweep_id": self.sweep_id,
            "source": self.source,
            "total": self.total,
            "done": self.done,
            "failed": self.failed,
            "lanes": self.lanes,
            "lanes_done": self.lanes_done,
            "started": self.started.isoformat(),
            "updated": self.updated.isoformat(),
            "finished": self.finished,
            "rate": self.rate,
            "eta": self.eta,
            "counts": dict(self.counts),
        }

    @classmethod
    def from_hash(cls, raw: Mapping[Any, Any]) -> SweepProgress:
        """From the Redis hash (bytes or str fields)."""
        data = {_text(k): _text(v) for k, v in raw.items()}
        started = float(data.get("started", 0.0))
        return cls(
            sweep_id=data.get("id", ""),
            source=data.get("source", ""),
            total=int(data.get("total", 0)),
            done=int(data.get("done", 0)),
            failed=int(data.get("failed", 0)),
            lanes=int(data.get("lanes", 0)),
            lanes_done=int(data.get("lanes_done", 0)),
            started=_moment(started),
            updated=_moment(float(data.get("updated", started))),
            counts={k[len(_COUNT) :]: int(v) for k, v in sorted(data.items()) if k.startswith(_COUNT)},
        )


@dataclass(frozen=True)
class Recorded:
    """The sweep-wide counts after one token (from the pipeline's replies; no extra read)."""

    done: int
    failed: int


class SweepRecorder:
    """Writes one sweep's progress; cheap to rebuild in each lane from :meth:`ref`."""

    def __init__(self, sweep_id: str) -> None:
        self.sweep_id = sweep_id
        self._warned = False

    @classmethod
    def start(cls, total: int, lanes: int, source: str) -> SweepRecorder:
        """A new sweep of ``total`` tokens in ``lanes`` lanes, made the current one."""
        recorder = cls(uuid.uuid4().hex[:16])
        now = time.time()
        fields = {
            "id": recorder.sweep_id,
            "source": source,
            "total": int(total),
            "lanes": int(lanes),
            "done": 0,
            "failed": 0,
            "lanes_done": 0,
            "started": repr(now),
            "updated": repr(now),
        }
        recorder._write(lambda pipe: (pipe.hset(_key(recorder.sweep_id), mapping=fields),))
        return recorder

    def ref(self) -> str:
        return self.sweep_id

    def _write(self, commands: Callable[[Any], Any]) -> list[Any] | None:
        key = _key(self.sweep_id)
        try:
            pipe = get_redis().pipeline(transaction=False)
            commands(pipe)
            pipe.hset(key, "updated", repr(time.time()))
            pipe.expire(key, PROGRESS_TTL)
            pipe.set(_CURRENT, self.sweep_id, ex=PROGRESS_TTL)
            return list(pipe.execute())
        except REDIS_ERRORS as exc:
            if not self._warned:
                self._warned = True
                logger.warning(
                    "The progress of token sweep %s is not recorded: Redis did not answer (%s)",
                    self.sweep_id,
                    type(exc).__name__,
                )
            return None

    def record(self, outcome: str, *, failed: bool, also: Callable[[Any], Any] | None = None) -> Recorded | None:
        """Count one token (``also`` adds commands to the same round trip); ``None`` if Redis is away."""
        key = _key(self.sweep_id)

        def commands(pipe: Any) -> None:
            pipe.hincrby(key, "done", 1)
            pipe.hincrby(key, "failed", 1 if failed else 0)
            pipe.hincrby(key, f"{_COUNT}{outcome}", 1)
            if also is not None:
                also(pipe)

        replies = self._write(commands)
        return None if replies is None else Recorded(done=int(replies[0]), failed=int(replies[1]))

    def lane_done(self) -> None:
        self._write(lambda pipe: pipe.hincrby(_key(self.sweep_id), "lanes_done", 1))


def sweep_progress(sweep_id: str | None = None) -> SweepProgress | None:
    """The progress of sweep ``sweep_id`` (default: the latest), ``None`` if none is recorded.

    Raises :class:`~esi.exceptions.RedisUnavailable` when Redis does not answer.
    """
    try:
        redis = get_redis()
        if sweep_id is None:
            current = redis.get(_CURRENT)
            if current is None:
                return None
            sweep_id = _text(current)
        raw = redis.hgetall(_key(sweep_id))
    except REDIS_ERRORS as exc:
        raise RedisUnavailable(
            f"The token sweep's progress cannot be read: Redis did not answer ({type(exc).__name__}); "
            "check ESI_REDIS_URL."
        ) from exc
    return SweepProgress.from_hash(raw) if raw else None
