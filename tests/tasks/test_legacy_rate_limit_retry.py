"""django-esi 10's ``@rate_limit_retry_task`` on a real worker: a spent ESI limit re-queues the
task with the server's reset as countdown, and the retry fetches once the limit is over."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from celery import shared_task
from celery.signals import task_retry

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from esi.decorators import rate_limit_retry_task
    from esi.openapi_clients import ESIClientProvider

from esi.client import get_client
from esi.exceptions import EsiErrorLimited, EsiRateLimited
from tests.tasks.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@shared_task(bind=True, name="tests.legacy.players")
@rate_limit_retry_task
def legacy_players(self: Any) -> int:
    """A task written for django-esi 10, as Alliance Auth's eveonline tasks are."""
    status = ESIClientProvider("2025-08-26", "legacy-tests", "1.0").client.Status.GetStatus().result()
    return int(status.players)


@pytest.fixture
def retries() -> Any:
    seen: list[tuple[str, Any, int]] = []

    def record(sender: Any = None, request: Any = None, reason: Any = None, **kwargs: Any) -> None:
        seen.append((type(reason.exc).__name__, reason.when, request.retries))

    task_retry.connect(record, weak=False)
    yield seen
    task_retry.disconnect(record)


def test_rate_limited_task_is_requeued_with_the_reset_as_countdown(threads_worker, esi_sim, retries) -> None:
    esi_sim.configure_route("GetStatus", status=429, retry_after=2)
    result = legacy_players.delay()

    wait_for(lambda: len(retries) >= 1, timeout=30)
    esi_sim.configure_route("GetStatus", status=None, retry_after=None)  # the limit is over

    assert result.get(timeout=60) > 0
    assert retries[0] == ("EsiRateLimited", 2, 0)  # re-queued in ESI's Retry-After, first retry
    # one 429, then the limiter held every call until the reset: one 200 after it
    assert esi_sim.stats()["by_route"]["GetStatus"] == {"429": 1, "200": 1}


def test_error_limited_task_is_requeued_too(threads_worker, esi_sim, retries) -> None:
    esi_sim.configure_route("GetStatus", status=420, retry_after=3)
    result = legacy_players.delay()

    wait_for(lambda: len(retries) >= 1, timeout=30)
    esi_sim.configure_route("GetStatus", status=None, retry_after=None)

    assert result.get(timeout=60) > 0
    assert retries[0] == ("EsiErrorLimited", 3, 0)


def test_outside_a_bound_task_the_limit_error_is_raised() -> None:
    @rate_limit_retry_task
    def plain(x: int) -> int:
        raise EsiRateLimited("status", 4.2)

    with pytest.raises(EsiRateLimited) as info:
        plain(1)
    assert info.value.reset == 4.2 and info.value.bucket == "status"
    with pytest.raises(EsiErrorLimited):
        rate_limit_retry_task(lambda: (_ for _ in ()).throw(EsiErrorLimited(1.0)))()


@shared_task(bind=True, name="tests.legacy_rate_limited_status", max_retries=3)
@rate_limit_retry_task
def legacy_rate_limited_status(self: Any) -> int:
    """django-esi 10 style: a bound task under ``rate_limit_retry_task`` calling ESI directly."""
    response = get_client().call("GetStatus", force_refresh=True)
    return int(response.data["players"])


def test_a_spent_group_budget_is_seen_before_sending_and_requeues(threads_worker, esi_sim, retries) -> None:
    esi_sim.configure_route("GetStatus", rate_limit={"max_tokens": 2, "window": 2})
    get_client().call("GetStatus")  # spends the group's budget: the task's first call is limited

    assert legacy_rate_limited_status.delay().get(timeout=30) > 0
    assert len(retries) == 1
    name, countdown, _ = retries[0]
    assert name == "EsiRateLimited" and 1 <= countdown <= 2  # whole seconds up to the group's reset
    # the limit was seen before sending: ESI got the first call and the retried one, no 429
    seen = esi_sim.stats()["by_route"]["GetStatus"]
    assert sum(seen.values()) == 2 and "429" not in seen


def test_the_old_name_warns_once_naming_the_replacement() -> None:
    import esi.decorators
    from esi.compat import _deprecation

    _deprecation._warned.discard("esi.decorators.rate_limit_retry_task")
    with pytest.warns(DeprecationWarning, match="esi_tasks.tasks.fetch_endpoint"):
        esi.decorators.rate_limit_retry_task
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        esi.decorators.rate_limit_retry_task
