"""The Celery layer's panels and metrics on the ``esi`` dashboard, registered from ``ready()``.

``esi`` never imports ``esi_tasks``: this module adds to its registries (:mod:`esi.dashboard.panels`,
:func:`esi.dashboard.metrics.register_collector`) when the app loads. Panels: queue depth per
queue, tasks running per worker, keep-fresh chains (count and late ones) and the token sweep's
progress. A broker that does not answer shows as "Broker unavailable: ..." in its panels.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from celery import current_app
from kombu.exceptions import ChannelError
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from esi.dashboard.metrics import register_collector
from esi.dashboard.panels import Panel, SourceUnavailable, iso, register
from esi_tasks import keep_fresh, token_refresh
from esi_tasks.queues import DEFAULT_QUEUE, TOKEN_QUEUE

__all__ = ["INSPECT_TIMEOUT", "queue_depths", "register_panels"]

INSPECT_TIMEOUT = 1.0  # seconds the workers have to answer "what are you running?"
LATE_AFTER = 10.0  # seconds past its due time a keep-fresh chain counts as late
BROKER_TIMEOUT = 2.0  # seconds to connect to the broker before its panels say it is down


def _queue_names() -> list[str]:
    conf = current_app.conf
    names = [TOKEN_QUEUE, DEFAULT_QUEUE, conf.task_default_queue or "celery"]
    names.extend(q.name for q in conf.task_queues or ())
    return list(dict.fromkeys(names))


def _broker_down(exc: Exception) -> SourceUnavailable:
    return SourceUnavailable("Broker", f"{type(exc).__name__}: {exc}")


def queue_depths() -> dict[str, int]:
    """Messages waiting per queue (a queue the broker does not know yet has 0); ``SourceUnavailable``
    when the broker does not answer."""
    depths: dict[str, int] = {}
    try:
        with current_app.connection_for_read(connect_timeout=BROKER_TIMEOUT) as conn:
            conn.ensure_connection(max_retries=1)
            channel = conn.default_channel
            for name in _queue_names():
                try:
                    depths[name] = int(channel.queue_declare(queue=name, passive=True).message_count)
                except ChannelError:  # never declared, or empty (Redis drops empty lists)
                    depths[name] = 0
                    channel = conn.channel()  # a refused passive declare may close the channel (AMQP)
    except Exception as exc:  # kombu, redis-py, amqp and socket errors alike
        raise _broker_down(exc) from exc
    return depths


def queues_panel() -> dict[str, Any]:
    rows: list[list[Any]] = [[name, n] for name, n in queue_depths().items()]
    return {"columns": ["queue", "waiting"], "rows": rows, "empty": "No queue."}


def workers_panel() -> dict[str, Any]:
    try:
        active = current_app.control.inspect(timeout=INSPECT_TIMEOUT).active()
    except Exception as exc:  # the broadcast goes through the broker
        raise _broker_down(exc) from exc
    if not active:
        return {"items": [["workers", 0]], "note": f"No worker answered within {INSPECT_TIMEOUT:g} s."}
    items: list[list[Any]] = [["workers", len(active)], ["tasks running", sum(len(t) for t in active.values())]]
    for worker, tasks in sorted(active.items()):
        names = sorted({str(t.get("name", "?")).rpartition(".")[2] for t in tasks})
        items.append([worker, f"{len(tasks)} running" + (f": {', '.join(names)}" if names else "")])
    return {"items": items}


def _chain_counts() -> tuple[int, int] | None:
    """(running, late) keep-fresh chains, one Redis command each; None before #15's listing lands."""
    count, count_late = getattr(keep_fresh, "count", None), getattr(keep_fresh, "count_late", None)
    if count is None or count_late is None:
        return None
    return int(count()), int(count_late(LATE_AFTER))


def chains_panel() -> dict[str, Any]:
    counts = _chain_counts()
    if counts is None:
        return {"items": [["chains", None]], "note": "esi_tasks.keep_fresh.count() is not in this version yet."}
    return {
        "items": [["keep-fresh chains", counts[0]], ["late", counts[1]]],
        "note": f"Late: due more than {LATE_AFTER:.0f} s ago and not sent (no dispatcher tick, or a stuck queue).",
    }


def sweep_panel() -> dict[str, Any]:
    progress = token_refresh.sweep_progress()
    if progress is None:
        return {"items": [["sweep", "none in the last hour"]]}
    return {
        "items": [
            ["sweep", progress.sweep_id],
            ["done", f"{progress.done} of {progress.total}"],
            ["failed", progress.failed],
            ["lanes done", f"{progress.lanes_done} of {progress.lanes}"],
            ["started", iso(progress.started)],
            ["updated", iso(progress.updated)],
            ["eta", None if progress.eta is None else f"{progress.eta:.0f} s"],
            ["outcomes", dict(progress.counts)],
        ]
    }


def _metrics() -> Iterator[Metric]:
    waiting = GaugeMetricFamily("esi_tasks_queue_messages", "Messages waiting per Celery queue.", labels=["queue"])
    for name, n in queue_depths().items():
        waiting.add_metric([name], n)
    yield waiting
    counts = _chain_counts()
    if counts is not None:
        yield GaugeMetricFamily("esi_tasks_keep_fresh_chains", "Keep-fresh chains running.", value=counts[0])
        yield GaugeMetricFamily("esi_tasks_keep_fresh_late", "Keep-fresh chains overdue.", value=counts[1])
    progress = token_refresh.sweep_progress()
    if progress is not None:
        yield GaugeMetricFamily("esi_tasks_sweep_total", "Tokens in the latest sweep.", value=progress.total)
        yield GaugeMetricFamily("esi_tasks_sweep_done", "Tokens the latest sweep handled.", value=progress.done)
        yield GaugeMetricFamily("esi_tasks_sweep_failed", "Tokens the sweep could not renew.", value=progress.failed)


def register_panels() -> None:
    for panel in (
        Panel("queues", "Queues", "table", queues_panel, 40, "Messages waiting in the broker per queue."),
        Panel("workers", "Workers", "stats", workers_panel, 45, "Tasks running now, as the workers report them."),
        Panel("chains", "Keep-fresh chains", "stats", chains_panel, 50),
        Panel("sweep", "Token sweep", "stats", sweep_panel, 55, "The latest refresh sweep of every token."),
    ):
        register(panel)
    register_collector("esi_tasks", _metrics)
