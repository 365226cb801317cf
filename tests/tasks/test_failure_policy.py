"""The failure policy with a real worker: fail fast, re-queue on limits, back off on 5xx."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from celery import states

from esi.exceptions import (
    EsiNotFound,
    EsiRateLimited,
    EsiServerError,
    InvalidParameter,
    NoTokenError,
    UnknownOperation,
)
from esi_tasks.tasks import fetch_endpoint
from tests.tasks.conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


def _eta(message):
    return dt.datetime.fromisoformat(message["eta"])


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: fetch_endpoint.delay("GetStatuss"), UnknownOperation),
        (lambda: fetch_endpoint.delay("GetCharactersDetail", character_id="not-a-number"), InvalidParameter),
        (lambda: fetch_endpoint.delay("GetCharactersCharacterIdAssets", character_id=90000001), NoTokenError),
    ],
    ids=["unknown-operation", "bad-parameter", "no-token"],
)
def test_bad_input_fails_at_once_without_retry(threads_worker, esi_sim, published, received_signals, call, error):
    result = call()
    with pytest.raises(error) as info:
        result.get(timeout=20)
    assert str(info.value)  # a message that says what was wrong
    assert result.state == states.FAILURE
    assert len(published.of(result.id)) == 1  # sent once, never again
    assert esi_sim.stats()["total"] == 0  # nothing reached ESI
    # Celery stores the failure before it runs on_failure (which sends the signal): wait for it.
    wait_for(lambda: received_signals["failed"], timeout=5)
    assert [f["task_id"] for f in received_signals["failed"]] == [result.id]
    assert isinstance(received_signals["failed"][0]["exception"], error)


def test_unknown_operation_names_the_closest(threads_worker):
    with pytest.raises(UnknownOperation, match="GetStatus"):
        fetch_endpoint.delay("GetStatuss").get(timeout=20)


def test_rate_limited_fetch_is_requeued_with_retry_after(threads_worker, esi_sim, published, celery_app):
    esi_sim.configure_route("GetStatus", status=429, retry_after=2)
    result = fetch_endpoint.delay("GetStatus")
    requeued = wait_for(lambda: [m for m in published.of(result.id) if m["requeues"] == 1], timeout=15)[0]
    # the worker does not sleep: the message waits as a scheduled (eta) task, nothing is active
    scheduled = celery_app.control.inspect(timeout=1).scheduled() or {}
    assert any(t["request"]["id"] == result.id for tasks in scheduled.values() for t in tasks)
    esi_sim.configure_route("GetStatus", status=None, retry_after=None)
    data = result.get(timeout=20)
    assert "players" in data
    countdown = (_eta(requeued) - requeued["sent_at"]).total_seconds()
    assert 1.8 <= countdown <= 2.5
    assert requeued["retries"] == 0  # max_retries untouched
    by_status = esi_sim.stats()["by_route"]["GetStatus"]
    assert by_status.get("429") == 1 and by_status.get("200") == 1


def test_error_limited_fetch_is_requeued_not_failed(threads_worker, esi_sim, published, received_signals):
    esi_sim.configure_route("GetStatus", status=420, retry_after=2)
    result = fetch_endpoint.delay("GetStatus")
    requeued = wait_for(lambda: [m for m in published.of(result.id) if m["requeues"] == 1], timeout=15)[0]
    wait_for(lambda: result.state == states.RETRY, timeout=5)  # stored right after the publish
    assert received_signals["failed"] == []  # a limit is not a failure
    esi_sim.configure_route("GetStatus", status=None, retry_after=None)
    assert "players" in result.get(timeout=20)
    countdown = (_eta(requeued) - requeued["sent_at"]).total_seconds()
    assert 1.8 <= countdown <= 2.5
    assert requeued["retries"] == 0
    assert received_signals["failed"] == []
    assert [f["task_id"] for f in received_signals["fetched"]] == [result.id]


def test_requeues_are_bounded_separately_from_retries(threads_worker, esi_sim, published, monkeypatch):
    monkeypatch.setattr(fetch_endpoint, "max_requeues", 2)
    esi_sim.configure_route("GetStatus", status=429, retry_after=1)
    result = fetch_endpoint.delay("GetStatus")
    with pytest.raises(EsiRateLimited):
        result.get(timeout=30)
    assert [m["requeues"] for m in published.of(result.id)] == [None, 1, 2]
    assert all(m["retries"] == 0 for m in published.of(result.id))


def test_server_errors_retry_with_backoff_then_succeed(threads_worker, esi_sim, published):
    esi_sim.configure_route("GetStatus", status=503)
    result = fetch_endpoint.delay("GetStatus")
    wait_for(lambda: [m for m in published.of(result.id) if m["retries"] == 2], timeout=15)
    esi_sim.configure_route("GetStatus", status=None)
    assert "players" in result.get(timeout=20)
    retries = [m["retries"] for m in published.of(result.id)]
    assert retries[:3] == [0, 1, 2]
    assert esi_sim.stats()["by_route"]["GetStatus"]["503"] >= 2


def test_server_errors_fail_after_max_retries(threads_worker, esi_sim, published, received_signals, monkeypatch):
    monkeypatch.setattr(fetch_endpoint, "max_retries", 2)
    esi_sim.configure_route("GetStatus", status=502)
    result = fetch_endpoint.delay("GetStatus")
    with pytest.raises(EsiServerError):
        result.get(timeout=30)
    assert [m["retries"] for m in published.of(result.id)] == [0, 1, 2]
    assert esi_sim.stats()["by_route"]["GetStatus"]["502"] == 3
    wait_for(lambda: received_signals["failed"], timeout=5)  # sent after the failure is stored
    assert [f["task_id"] for f in received_signals["failed"]] == [result.id]


def test_expected_failures_are_not_logged_as_errors(threads_worker, esi_sim, caplog):
    esi_sim.configure_route("GetCharactersDetail", status=404)
    with caplog.at_level("INFO", logger="celery.app.trace"):
        with pytest.raises(EsiNotFound):
            fetch_endpoint.delay("GetCharactersDetail", character_id=90000001).get(timeout=20)
        wait_for(lambda: [r for r in caplog.records if r.name == "celery.app.trace" and "raised" in r.getMessage()])
    trace = [r for r in caplog.records if r.name == "celery.app.trace"]
    assert not [r for r in trace if r.levelno >= logging.ERROR]
    assert any("raised expected" in r.getMessage() for r in trace)
