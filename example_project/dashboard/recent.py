"""Remember the last fetches made by the Celery tasks, in Redis, so the web process can show them.

The worker and the web server are different processes; both load this app, and the worker's
``endpoint_fetched`` / ``fetch_failed`` signals push one JSON line each onto a short Redis list.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from esi.redis_pool import get_redis, unavailable

logger = logging.getLogger(__name__)

KEY = "example_project:recent_fetches"
KEEP = 20


def connect() -> None:
    """Listen to the task signals when the Celery layer is installed."""
    try:
        from esi_tasks import signals
    except ImportError:  # the Celery layer is optional
        return
    for name, outcome in (("endpoint_fetched", "ok"), ("fetch_failed", "failed")):
        signal = getattr(signals, name, None)
        if signal is not None:
            signal.connect(_receiver(outcome), weak=False, dispatch_uid=f"dashboard.recent.{name}")


def _receiver(outcome: str) -> Any:
    def receive(sender: Any = None, **kwargs: Any) -> None:
        record(outcome, **kwargs)

    return receive


def _plain(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool)) or value is None else str(value)


def record(outcome: str, **info: Any) -> None:
    """Store one fetch; never lets a Redis problem break the task that sent the signal."""
    meta = info.get("meta") or {}
    entry = {
        "at": time.time(),
        "outcome": outcome,
        "operation": _plain(info.get("operation")),
        "params": {k: _plain(v) for k, v in (info.get("params") or {}).items()},
        "status": _plain(meta.get("status")),
        "from_cache": _plain(meta.get("from_cache")),
        "not_modified": _plain(meta.get("not_modified")),
        "error": _plain(info.get("exception")),
    }
    try:
        redis = get_redis()
        redis.lpush(KEY, json.dumps(entry))
        redis.ltrim(KEY, 0, KEEP - 1)
    except Exception:
        logger.warning("could not record a recent fetch in Redis", exc_info=True)


def latest() -> list[dict[str, Any]]:
    """The most recent fetches, newest first; ``RedisUnavailable`` when Redis does not answer."""
    with unavailable("reading the recent fetches"):
        rows = [json.loads(raw) for raw in get_redis().lrange(KEY, 0, KEEP - 1)]
    for row in rows:
        row["at"] = time.strftime("%H:%M:%S", time.gmtime(row["at"]))
    return rows
