"""The chaos run's Celery app: the test suite's, counting task runs (``chaos:runs``) in Redis."""

from __future__ import annotations

import contextlib
from typing import Any

from celery.signals import task_prerun

from tests.celery_app import app

__all__ = ["app"]


@task_prerun.connect(weak=False)
def _count_run(task: Any = None, **_: Any) -> None:
    if task is None or not task.name.startswith("esi_tasks."):
        return
    from esi.redis_pool import REDIS_ERRORS, get_redis

    with contextlib.suppress(*REDIS_ERRORS):  # the count may miss runs made while Redis is down
        get_redis().incr("chaos:runs")
