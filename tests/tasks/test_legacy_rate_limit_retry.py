"""django-esi 10's ``@rate_limit_retry_task``: a limited call re-queues the task with ESI's wait."""

from __future__ import annotations

from typing import Any

import pytest
from celery import shared_task
from celery.signals import task_retry

from esi.client import get_client
from esi.decorators import rate_limit_retry_task
from esi.exceptions import EsiRateLimited

pytestmark = pytest.mark.django_db(transaction=True)


# Registered when this module is imported (after Django is set up); the in-process worker runs it.
@shared_task(bind=True, name="tests.legacy_rate_limited_status", max_retries=3)
@rate_limit_retry_task
def legacy_rate_limited_status(self: Any) -> int:
    """django-esi 10 style: a bound task under ``rate_limit_retry_task`` calling ESI."""
    response = get_client().call("GetStatus", force_refresh=True)
    return int(response.data["players"])


def test_a_rate_limited_task_is_requeued_with_the_wait_esi_asked_for(threads_worker: Any, esi_sim: Any) -> None:
    esi_sim.configure_route("GetStatus", rate_limit={"max_tokens": 2, "window": 2})
    get_client().call("GetStatus")  # spends the group's budget: the task's first call is limited
    retries: list[Any] = []

    def on_retry(sender: Any = None, reason: Any = None, **kwargs: Any) -> None:
        retries.append(reason)

    task_retry.connect(on_retry, weak=False)
    try:
        players = legacy_rate_limited_status.delay().get(timeout=30)
    finally:
        task_retry.disconnect(on_retry)

    assert players > 0
    assert len(retries) == 1
    limited = retries[0].exc
    assert isinstance(limited, EsiRateLimited) and limited.retry_after > 0
    assert retries[0].when == limited.retry_after  # countdown = the wait, no sleep in the worker
    # the limit was seen before sending: ESI got the first call and the retried one, no 429
    assert sum(esi_sim.stats()["by_route"]["GetStatus"].values()) == 2


def test_called_outside_a_task_the_limit_error_is_raised() -> None:
    @rate_limit_retry_task
    def plain(_first: Any) -> None:
        raise EsiRateLimited("status", 3.0)

    with pytest.raises(EsiRateLimited) as raised:
        plain("not a task")
    assert raised.value.reset == 3.0


def test_decorating_warns_once_naming_the_replacement() -> None:
    with pytest.warns(DeprecationWarning, match="esi_tasks.tasks.fetch_endpoint"):

        @shared_task(bind=True, name="tests.never_run")
        @rate_limit_retry_task
        def never_run(self: Any) -> None:
            raise AssertionError("not run")
