"""A bare Celery app (no Django) with esi_tasks' reliability settings (so its ledger transport), on
the Redis named by ``ESI_LEDGER_REDIS_URL``, reconciling every half second with a 1 s grace."""

from __future__ import annotations

import os

import redis
from celery import Celery

from esi_tasks.queues import apply_reliability_defaults

__all__ = ["app", "count"]

url = os.environ.get("ESI_LEDGER_REDIS_URL", "redis://127.0.0.1:6379/15")
app = Celery("ledger", broker=url, backend=url)
apply_reliability_defaults(app)
app.conf.broker_transport_options = {
    **app.conf.broker_transport_options,
    "ledger_grace": 1,
    "ledger_interval": 0.5,
}


@app.task(name="ledger.count")
def count(key: str) -> int:
    """Count this run under ``key``; returns the runs so far."""
    return int(redis.Redis.from_url(url).incr(key))
