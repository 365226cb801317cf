"""Reading the counters back (dashboard panels, ``/metrics``): one pipeline per reading.

Every function raises :class:`~esi.exceptions.RedisUnavailable` when Redis does not answer;
the panels turn that into "Redis unavailable: ..." rather than an error page.
"""

from __future__ import annotations

import json
import time
from typing import Any

from esi.dashboard.counters import FAILURES_KEEP, OUTCOMES, RECENT_KEEP, SENT, keys
from esi.redis_pool import get_redis, unavailable

__all__ = ["Counts", "failures", "last_hour", "per_operation", "recent", "totals"]

Counts = dict[str, int]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _counts(raw: dict[Any, Any]) -> Counts:
    out = dict.fromkeys(OUTCOMES, 0)
    for field, value in raw.items():
        name = _text(field)
        if name in out:
            out[name] = int(value)
    return out


def last_hour(minutes: int = 60, now: float | None = None) -> list[dict[str, Any]]:
    """One row per minute, oldest first: ``{"minute": unix time of its start, <outcome>: calls,
    "requests": calls sent to ESI, "errors": 4xx + 5xx + unanswered, "avg_ms": of sent calls}``."""
    current = int((time.time() if now is None else now) // 60)
    wanted = range(current - minutes + 1, current + 1)
    with unavailable("reading the ESI call counters"):
        pipe = get_redis().pipeline(transaction=False)
        for minute in wanted:
            pipe.hgetall(keys.minute(minute))
        raws = pipe.execute()
    rows = []
    for minute, raw in zip(wanted, raws, strict=True):
        counts = _counts(raw)
        sent = sum(counts[o] for o in SENT)
        total_ms = float(raw.get(b"ms", raw.get("ms", 0)) or 0)
        rows.append(
            {
                "minute": minute * 60,
                **counts,
                "requests": sent,
                "errors": counts["client_error"] + counts["server_error"] + counts["unanswered"],
                "avg_ms": round(total_ms / sent, 1) if sent else None,
            }
        )
    return rows


def totals() -> Counts:
    """Calls per outcome since the counters began (monotonic: Prometheus counters)."""
    with unavailable("reading the ESI call counters"):
        return _counts(get_redis().hgetall(keys.total))


def per_operation() -> dict[tuple[str, str], int]:
    """``{(operationId, outcome): calls}`` since the counters began."""
    with unavailable("reading the ESI call counters"):
        raw = get_redis().hgetall(keys.ops)
    out: dict[tuple[str, str], int] = {}
    for field, value in raw.items():
        operation, _, outcome = _text(field).rpartition(" ")
        if operation and outcome in OUTCOMES:
            out[(operation, outcome)] = int(value)
    return out


def _list(key: str, keep: int, what: str) -> list[dict[str, Any]]:
    with unavailable(f"reading the {what}"):
        raw = get_redis().lrange(key, 0, keep - 1)
    rows = []
    for item in raw:
        try:
            rows.append(json.loads(item))
        except ValueError:
            continue  # not ours: skipped rather than failing the panel
    rows.sort(key=lambda row: row.get("at") or 0, reverse=True)  # processes flush in batches
    return rows


def recent(limit: int = RECENT_KEEP) -> list[dict[str, Any]]:
    """The last calls of every process, newest first (``at`` is a UNIX time)."""
    return _list(keys.recent, min(limit, RECENT_KEEP), "recent ESI calls")


def failures(limit: int = FAILURES_KEEP) -> list[dict[str, Any]]:
    """The last failed calls, newest first, each with its error class and message."""
    return _list(keys.failures, min(limit, FAILURES_KEEP), "recent ESI failures")
