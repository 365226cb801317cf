"""``/sso/metrics``: Prometheus text read from Redis, refused unless a setting lets the scrape in."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client, override_settings
from prometheus_client.parser import text_string_to_metric_families

import tests.celery_app  # noqa: F401  (the suite's Celery app, on the test Redis, is the current app)
from esi.checks import check_setting_values
from esi.client import EsiClient
from esi.dashboard.counters import recorder
from esi.redis_pool import reset_redis

pytestmark = pytest.mark.django_db

URL = "/sso/metrics"


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_metrics_are_refused_by_default(client: Client) -> None:
    response = client.get(URL)
    assert response.status_code == 403 and b"metrics are off" in response.content


def test_a_bearer_token_opens_them_and_the_text_parses(
    client: Client, settings: Any, esi_client: EsiClient, esi_sim: Any
) -> None:
    settings.ESI_METRICS_TOKEN = "s3cret-scrape"
    esi_client.call("GetStatus")
    esi_client.call("GetStatus")
    recorder.flush()
    assert client.get(URL, HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    response = client.get(URL, HTTP_AUTHORIZATION="Bearer s3cret-scrape")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    samples = _samples(response.content.decode())
    assert samples[("esi_calls_total", (("outcome", "hit"),))] == 1
    assert samples[("esi_calls_total", (("outcome", "ok"),))] == 1
    assert samples[("esi_operation_calls_total", (("operation", "GetStatus"), ("outcome", "hit")))] == 1
    families = {f.name for f in text_string_to_metric_families(response.content.decode())}
    assert {"esi_error_limit_remaining", "esi_error_limit_reset_seconds", "esi_rate_limit_used_tokens"} <= families
    assert samples[("esi_paused", ())] == 0
    assert ("esi_tasks_queue_messages", (("queue", "esi"),)) in samples
    assert samples[("esi_metrics_collector_errors", (("source", "calls"),))] == 0


def test_an_allowed_network_needs_no_token(client: Client, settings: Any) -> None:
    settings.ESI_METRICS_ALLOWED_IPS = ["10.0.0.0/8"]
    assert client.get(URL, REMOTE_ADDR="192.168.1.5").status_code == 403
    response = client.get(URL, REMOTE_ADDR="10.1.2.3")
    assert response.status_code == 200
    assert list(text_string_to_metric_families(response.content.decode()))


def test_staff_who_may_see_the_dashboard_may_read_them(admin_client: Client) -> None:
    assert admin_client.get(URL).status_code == 200


def test_redis_down_is_a_counted_source_error_not_a_500(client: Client, settings: Any) -> None:
    settings.ESI_METRICS_TOKEN = "t"
    settings.ESI_REDIS_URL = "redis://127.0.0.1:1/0"
    settings.ESI_REDIS_RETRIES = 0
    settings.ESI_REDIS_CONNECT_TIMEOUT = 0.5
    reset_redis()
    response = client.get(URL, HTTP_AUTHORIZATION="Bearer t")
    assert response.status_code == 200
    samples = _samples(response.content.decode())
    assert samples[("esi_metrics_collector_errors", (("source", "calls"),))] == 1
    assert samples[("esi_metrics_collector_errors", (("source", "limits"),))] == 1


@override_settings(ESI_METRICS_ALLOWED_IPS=["10.0.0.0/8", "not-a-network"])
def test_a_wrong_allowed_network_is_refused_at_start_up() -> None:
    (message,) = check_setting_values()
    assert message.id == "esi.E021" and "'not-a-network'" in message.msg
