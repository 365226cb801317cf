"""Default queues and routes: token refresh ahead of bulk fetches.

Nothing is routed unless you opt in, so ``celery -A proj worker`` (default queue only) runs
everything out of the box. To separate the work, put this in your Django settings::

    from esi_tasks.queues import CELERY_SETTINGS
    CELERY_TASK_ROUTES = CELERY_SETTINGS["task_routes"]
    CELERY_BROKER_TRANSPORT_OPTIONS = CELERY_SETTINGS["broker_transport_options"]

and start workers that consume the token queue first::

    celery -A proj worker -Q esi_tokens,esi,celery

With Redis, ``queue_order_strategy: "priority"`` makes a worker take from ``esi_tokens``
whenever it has something, before ``esi``. Or run a small dedicated worker for ``esi_tokens``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CELERY_SETTINGS", "DEFAULT_QUEUE", "TASK_ROUTES", "TOKEN_QUEUE", "apply_defaults"]

#: Token refresh and the sweep: small, latency-sensitive, ahead of everything else.
TOKEN_QUEUE = "esi_tokens"
#: Endpoint fetches, keep-fresh runs and scheduled fetches.
DEFAULT_QUEUE = "esi"

TASK_ROUTES: dict[str, dict[str, str]] = {
    "esi_tasks.refresh_token": {"queue": TOKEN_QUEUE},
    "esi_tasks.refresh_token_lane": {"queue": TOKEN_QUEUE},
    "esi_tasks.refresh_tokens": {"queue": TOKEN_QUEUE},
    "esi_tasks.*": {"queue": DEFAULT_QUEUE},
}

CELERY_SETTINGS: dict[str, Any] = {
    "task_routes": TASK_ROUTES,
    "broker_transport_options": {"queue_order_strategy": "priority"},
    # fetches are I/O bound and acks_late: take one message at a time per process
    "worker_prefetch_multiplier": 1,
}


def apply_defaults(app: Any) -> None:
    """Apply :data:`CELERY_SETTINGS` to a Celery ``app`` where the project set nothing itself."""
    for name, value in CELERY_SETTINGS.items():
        current = app.conf.get(name)
        if not current:
            app.conf[name] = value
