"""A bare Celery app (no Django) with esi_tasks' reliability settings, on the Redis named by
``ESI_RESTART_REDIS_URL``, for the worker that rides out a Redis restart. ``ESI_RESTART_CONSUMER``
swaps the worker's consumer class (Celery's own, to show what it does)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from celery import Celery

from esi_tasks.queues import apply_reliability_defaults

__all__ = ["app", "hold"]

url = os.environ.get("ESI_RESTART_REDIS_URL", "redis://127.0.0.1:6379/15")
app = Celery("restart", broker=url, backend=url)
apply_reliability_defaults(app)
if os.environ.get("ESI_RESTART_CONSUMER"):
    app.conf.worker_consumer = os.environ["ESI_RESTART_CONSUMER"]
app.conf.broker_transport_options = {**app.conf.broker_transport_options, "visibility_timeout": 30}


@app.task(name="restart.hold")
def hold(directory: str) -> int:
    """Say it started (a file named by its id), then run until the file ``go`` exists."""
    here = Path(directory)
    (here / f"started-{hold.request.id}").touch()
    for _ in range(1200):
        if (here / "go").exists():
            break
        time.sleep(0.05)
    return os.getpid()
