"""fetch_endpoint through a real threads-pool worker on the Redis broker, against the simulator."""

from __future__ import annotations

import pytest

from esi_tasks.tasks import fetch_endpoint

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


def test_public_fetch_returns_decoded_json(threads_worker, esi_sim):
    data = fetch_endpoint.delay("GetStatus").get(timeout=20)
    assert isinstance(data, dict) and "players" in data
    assert esi_sim.stats()["by_route"]["GetStatus"]["200"] == 1


def test_endpoint_fetched_carries_data_and_meta(threads_worker, esi_sim, received_signals):
    result = fetch_endpoint.delay("GetStatus")
    data = result.get(timeout=20)
    (sent,) = received_signals["fetched"]
    assert sent["operation"] == "GetStatus" and sent["params"] == {} and sent["data"] == data
    assert sent["task_id"] == result.id and sent["token_id"] is None
    meta = sent["meta"]
    assert meta["status"] == 200 and meta["from_cache"] is False and meta["etag"] and meta["expires"]


def test_all_pages_through_worker(threads_worker, esi_sim):
    esi_sim.configure_route("GetMarketsRegionIdOrders", pages=3)
    rows = fetch_endpoint.delay("GetMarketsRegionIdOrders", region_id=10000002, all_pages=True).get(timeout=30)
    first = fetch_endpoint.delay("GetMarketsRegionIdOrders", region_id=10000002).get(timeout=30)
    assert len(rows) > len(first) > 0
    assert len(esi_sim.request_log("GetMarketsRegionIdOrders")) >= 3


def test_token_tasks_are_routed_ahead_of_fetches(celery_app):
    from esi_tasks.queues import DEFAULT_QUEUE, TOKEN_QUEUE

    def queue_of(name):
        return celery_app.amqp.router.route({}, name)["queue"].name

    assert queue_of("esi_tasks.refresh_token") == TOKEN_QUEUE
    assert queue_of("esi_tasks.refresh_tokens") == TOKEN_QUEUE
    assert queue_of("esi_tasks.refresh_token_lane") == TOKEN_QUEUE
    assert queue_of("esi_tasks.keep_fresh_dispatch") == TOKEN_QUEUE  # never behind a deep fetch queue
    assert queue_of("esi_tasks.fetch_endpoint") == DEFAULT_QUEUE
    assert queue_of("esi_tasks.keep_fresh") == DEFAULT_QUEUE
    assert celery_app.conf.broker_transport_options["queue_order_strategy"] == "priority"
