"""``/metrics``: the counters and budgets in Prometheus' text format, read from Redis at scrape time.

Every value comes from Redis (the counters every process writes, the limiter's shared state),
none from this process' memory, so one scrape of any web process sees the whole deployment: all
Celery workers on all hosts. Built with ``prometheus_client`` on a registry of its own (no
per-process default metrics). Other apps add metric families with :func:`register_collector`
(``esi_tasks``: queue lengths, keep-fresh chains, the token sweep).

Access (``docs/operating.md``): a request with ``Authorization: Bearer <ESI_METRICS_TOKEN>``,
or from an address in ``ESI_METRICS_ALLOWED_IPS``, or a signed-in user who may see the
dashboard. With neither setting, scrapes get 403: metrics are off until you choose.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from esi.app_settings import esi_settings
from esi.client.limits import get_limiter
from esi.dashboard import readings
from esi.dashboard.counters import OUTCOMES
from esi.dashboard.views import can_view

__all__ = ["Families", "metrics", "register_collector", "render"]

logger = logging.getLogger(__name__)

Families = Callable[[], Iterable[Metric]]

_lock = threading.Lock()
_collectors: dict[str, Families] = {}


def register_collector(name: str, families: Families) -> None:
    """Add (or replace, by ``name``) a function yielding metric families at every scrape; what it
    raises is counted in ``esi_metrics_collector_errors`` and skipped."""
    with _lock:
        _collectors[name] = families


def _limits() -> dict[str, Any]:
    return get_limiter().snapshot()


def _calls() -> Iterator[Metric]:
    totals = readings.totals()
    calls = CounterMetricFamily("esi_calls", "ESI client calls by outcome, every process.", labels=["outcome"])
    for outcome in OUTCOMES:
        calls.add_metric([outcome], totals[outcome])
    yield calls
    per_op = CounterMetricFamily(
        "esi_operation_calls", "ESI client calls by operationId and outcome.", labels=["operation", "outcome"]
    )
    for (operation, outcome), n in sorted(readings.per_operation().items()):
        per_op.add_metric([operation, outcome], n)
    yield per_op


def _budgets() -> Iterator[Metric]:
    snap = _limits()
    e = snap.get("error_limit") or {}

    def gauge(name: str, doc: str, value: float | None) -> GaugeMetricFamily:
        g = GaugeMetricFamily(name, doc)
        if value is not None:
            g.add_metric([], value)
        return g

    yield gauge("esi_error_limit_remaining", "Errors ESI allows in this window (absent: unknown).", e.get("remain"))
    yield gauge("esi_error_limit_reset_seconds", "Seconds until ESI's error window resets.", e.get("reset_in"))
    yield gauge("esi_error_limit_threshold", "ESI_ERROR_LIMIT_THRESHOLD.", e.get("threshold"))
    yield gauge("esi_requests_in_flight", "Requests sent and not yet answered, every process.", e.get("in_flight"))
    yield gauge("esi_paused", "1 while nothing is sent to ESI (420, threshold, downtime).", 1 if e.get("paused") else 0)
    used = GaugeMetricFamily("esi_rate_limit_used_tokens", "Tokens used per group (all identities).", labels=["group"])
    lowest = GaugeMetricFamily(
        "esi_rate_limit_min_remaining_ratio",
        "Per group, the smallest share of tokens left of any identity (0: one is empty).",
        labels=["group"],
    )
    buckets = GaugeMetricFamily("esi_rate_limit_buckets", "Identities with a bucket per group.", labels=["group"])
    by_group: dict[str, list[dict[str, Any]]] = {}
    for row in snap.get("groups", []):
        by_group.setdefault(row["group"], []).append(row)
    for group, rows in sorted(by_group.items()):
        used.add_metric([group], sum(r["used"] for r in rows))
        ratios = [r["remaining"] / r["max_tokens"] for r in rows if r.get("max_tokens")]
        if ratios:
            lowest.add_metric([group], min(ratios))
        buckets.add_metric([group], len(rows))
    yield used
    yield lowest
    yield buckets


class _Scrape(Collector):
    """Every source, each on its own: one that fails is counted, the others still answer."""

    def collect(self) -> Iterator[Metric]:
        with _lock:
            sources: list[tuple[str, Families]] = [("calls", _calls), ("limits", _budgets), *_collectors.items()]
        errors = GaugeMetricFamily(
            "esi_metrics_collector_errors", "1 when a source could not be read in this scrape.", labels=["source"]
        )
        for name, families in sources:
            try:
                produced = list(families())
            except Exception as exc:
                logger.warning("metrics source %s failed: %s", name, exc)
                errors.add_metric([name], 1)
                continue
            errors.add_metric([name], 0)
            yield from produced
        yield errors


def render() -> bytes:
    """The exposition text of one scrape."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Scrape())
    return generate_latest(registry)


def _allowed(request: HttpRequest) -> bool:
    token = esi_settings.ESI_METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer ") and hmac.compare_digest(header[7:].strip().encode(), token.encode()):
        return True
    networks = esi_settings.ESI_METRICS_ALLOWED_IPS
    if networks:
        try:
            address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
        except ValueError:
            address = None
        if address is not None:
            for network in networks:
                try:
                    if address in ipaddress.ip_network(str(network), strict=False):
                        return True
                except ValueError:
                    logger.warning("ESI_METRICS_ALLOWED_IPS has %r, which is no address or network", network)
    return hasattr(request, "user") and can_view(request)


def metrics(request: HttpRequest) -> HttpResponse:
    """GET: the Prometheus text; 403 unless the request is allowed (module docstring)."""
    if not _allowed(request):
        if not esi_settings.ESI_METRICS_TOKEN and not esi_settings.ESI_METRICS_ALLOWED_IPS:
            why = "metrics are off: set ESI_METRICS_TOKEN or ESI_METRICS_ALLOWED_IPS (docs/operating.md)\n"
        else:
            why = "send Authorization: Bearer <ESI_METRICS_TOKEN>, or scrape from ESI_METRICS_ALLOWED_IPS\n"
        return HttpResponse(why, status=403, content_type="text/plain; charset=utf-8")
    response = HttpResponse(render(), content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response
