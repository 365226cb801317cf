"""Default queues and routes, and the Celery settings under which no ESI task is lost.

**Reliability** (:data:`RELIABILITY_SETTINGS`): applied to the Celery app by ``esi_tasks`` itself
(:func:`apply_reliability_defaults`, from the app's ``ready()``), each only where the project
left Celery's default:

- ``worker_prefetch_multiplier = 1``: a worker holds one message per process beyond those it
  runs, so a worker main process that dies strands as few messages as possible;
- ``task_acks_late`` + ``task_reject_on_worker_lost``: a message is acknowledged after its task
  ran, and goes back to the queue when the process running it dies;
- ``broker_transport_options["visibility_timeout"] = VISIBILITY_TIMEOUT``: a message taken but
  never acknowledged (its worker was killed, or the broker connection dropped) is delivered again
  after this many seconds. It must be longer than the longest countdown or ETA a task is sent
  with (:func:`esi_tasks.checks.longest_countdown`: a retry, ``retry_backoff_max`` 600 s plus up to half of it as
  jitter; a re-queue, the daily downtime or ``ESI_MAX_PAUSE``) plus the longest run
  (:data:`LONGEST_RUN`), or such tasks run twice (system check ``esi_tasks.W003``); and every
  worker looks for such messages every 10 s (kombu's ``unacked_restore_interval`` with
  ``unacked_restore_throttle = 1``; kombu's default looks every 100 s);
- ``broker_transport = "esi_tasks.transport:Transport"`` (for a ``redis://`` broker only): kombu's
  Redis transport keeping a ledger of task messages, so that a message lost between kombu's pop
  and its unacknowledged record (a worker main process or Redis killed then) is pushed back
  (:mod:`esi_tasks.transport` says how);
- ``worker_consumer = "esi_tasks.consumer:Consumer"``: Celery's consumer, except that a broker
  connection lost while Redis is down no longer makes the worker's main process exit
  (:mod:`esi_tasks.consumer` says why it did);
- ``worker_cancel_long_running_tasks_on_connection_loss = False`` (Celery 6 turns it on): a task
  running when the broker connection drops runs to its end and is acknowledged once Redis is
  back, instead of being killed and run again (a write would then be refused as possibly applied);
- ``broker_connection_retry_on_startup``: a worker started while Redis restarts waits for it;
- ``task_publish_retry_policy``: ``.delay()`` rides out a Redis restart of a few seconds;
- ``result_backend_always_retry``: a result is stored (and read) once Redis is back, not lost.

**Routing** (opt in): nothing is routed unless you say so, so ``celery -A proj worker`` (default
queue only) runs everything out of the box. To separate the work::

    from esi_tasks.queues import CELERY_SETTINGS
    CELERY_TASK_ROUTES = CELERY_SETTINGS["task_routes"]
    CELERY_BROKER_TRANSPORT_OPTIONS = CELERY_SETTINGS["broker_transport_options"]

and start workers that consume the token queue first::

    celery -A proj worker -Q esi_tokens,esi,celery

With Redis, ``queue_order_strategy: "priority"`` makes a worker take from ``esi_tokens``
whenever it has something, before ``esi``. Or run a small dedicated worker for ``esi_tokens``.
"""

from __future__ import annotations

import copy
from typing import Any

from celery.app.defaults import DEFAULTS

__all__ = [
    "CELERY_SETTINGS",
    "DEFAULT_QUEUE",
    "LONGEST_RUN",
    "RELIABILITY_SETTINGS",
    "TASK_ROUTES",
    "TOKEN_QUEUE",
    "VISIBILITY_TIMEOUT",
    "apply_defaults",
    "apply_reliability_defaults",
]

#: Token refresh, the sweep and the keep-fresh dispatcher: small, latency-sensitive, ahead of
#: everything else (the dispatcher must not wait behind a deep fetch queue).
TOKEN_QUEUE = "esi_tokens"
#: Endpoint fetches, keep-fresh runs and scheduled fetches.
DEFAULT_QUEUE = "esi"
#: Seconds before an unacknowledged message is delivered again: longer than the longest
#: countdown (a retry: 600 s backoff + 300 s jitter; a re-queue: ESI_MAX_PAUSE, 300 s; keep-fresh
#: runs: 2 s) plus the longest run (10 minutes), with room; not Celery's 1 hour.
VISIBILITY_TIMEOUT = 2400
#: Seconds of running counted on top of :func:`esi_tasks.checks.longest_countdown` in the visibility timeout.
LONGEST_RUN = 600
#: The broker transport set for ``redis://`` brokers: kombu's, with the ledger.
TRANSPORT = "esi_tasks.transport:Transport"

TASK_ROUTES: dict[str, dict[str, str]] = {
    "esi_tasks.refresh_token": {"queue": TOKEN_QUEUE},
    "esi_tasks.refresh_token_lane": {"queue": TOKEN_QUEUE},
    "esi_tasks.refresh_tokens": {"queue": TOKEN_QUEUE},
    "esi_tasks.keep_fresh_dispatch": {"queue": TOKEN_QUEUE},
    "esi_tasks.*": {"queue": DEFAULT_QUEUE},
}

RELIABILITY_SETTINGS: dict[str, Any] = {
    "broker_transport": TRANSPORT,  # redis:// brokers only (_apply)
    "worker_consumer": "esi_tasks.consumer:Consumer",
    "worker_prefetch_multiplier": 1,
    "worker_cancel_long_running_tasks_on_connection_loss": False,
    "task_acks_late": True,
    "task_reject_on_worker_lost": True,
    "broker_connection_retry_on_startup": True,
    "broker_transport_options": {
        "visibility_timeout": VISIBILITY_TIMEOUT,
        "unacked_restore_interval": 10,
        "unacked_restore_throttle": 1,
    },
    "task_publish_retry_policy": {"max_retries": 6, "interval_start": 0.2, "interval_step": 0.4, "interval_max": 1.5},
    "result_backend_always_retry": True,
    "result_backend_max_retries": 16,
    "result_backend_max_sleep_between_retries_ms": 2000,
}

CELERY_SETTINGS: dict[str, Any] = {
    **RELIABILITY_SETTINGS,
    "task_routes": TASK_ROUTES,
    "broker_transport_options": {
        "queue_order_strategy": "priority",
        **RELIABILITY_SETTINGS["broker_transport_options"],
    },
}


def _redis_broker(app: Any) -> bool:
    url = app.conf.get("broker_url")
    return isinstance(url, str) and url.startswith("redis://")


def _apply(app: Any, settings: dict[str, Any]) -> None:
    for name, value in settings.items():
        current = app.conf.get(name)
        if name == "broker_transport" and not _redis_broker(app):
            continue  # the ledger is for kombu's Redis transport only
        if isinstance(value, dict) and name.endswith("_options"):
            merged = dict(current or {})
            for key, item in value.items():
                merged.setdefault(key, item)  # the project's own options win
            app.conf[name] = merged
        elif current is None or current == DEFAULTS.get(name):
            app.conf[name] = copy.deepcopy(value)


def apply_defaults(app: Any) -> None:
    """Apply :data:`CELERY_SETTINGS` (routes too) to ``app`` where the project kept Celery's default."""
    _apply(app, CELERY_SETTINGS)


def apply_reliability_defaults(app: Any) -> None:
    """Apply :data:`RELIABILITY_SETTINGS` to ``app`` where the project kept Celery's default."""
    _apply(app, RELIABILITY_SETTINGS)
