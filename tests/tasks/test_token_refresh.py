"""Token refresh tasks and the sweep, through a real worker against the simulated SSO."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from celery.result import AsyncResult
from django.utils import timezone

from esi.models import Token
from esi_tasks import token_refresh
from esi_tasks.tasks import refresh_token, refresh_tokens
from tests.tasks.conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]

SCOPES = ["esi-assets.read_assets.v1"]


def _set(token, **fields):
    Token.objects.filter(pk=token.pk).update(**fields)


def test_refresh_token_task(threads_worker, esi_sim, make_token):
    token = make_token(90000001, SCOPES, expires_in=120)
    assert refresh_token.delay(token.pk).get(timeout=20) == "refreshed"
    token.refresh_from_db()
    assert token.access_token_expires > timezone.now() + dt.timedelta(minutes=15)
    assert refresh_token.delay(987654).get(timeout=20) == "missing"


def test_refresh_refused_by_sso_deletes_the_token(threads_worker, esi_sim, make_token):
    token = make_token(90000001, SCOPES)
    esi_sim.revoke_refresh_token(token.refresh_token)
    assert refresh_token.delay(token.pk).get(timeout=20) == "invalid"
    assert not Token.objects.filter(pk=token.pk).exists()


def test_refresh_retries_while_sso_is_down(threads_worker, esi_sim, make_token, published):
    token = make_token(90000001, SCOPES)
    esi_sim.configure_route("SsoToken", status=503)
    result = refresh_token.delay(token.pk)
    wait_for(lambda: [m for m in published.of(result.id) if m["retries"] == 2], timeout=15)
    esi_sim.configure_route("SsoToken", status=None)
    assert result.get(timeout=30) == "refreshed"
    assert [m["retries"] for m in published.of(result.id)][:3] == [0, 1, 2]


def test_sweep_selects_lapsing_and_unvalidated_tokens(esi_sim, redis_client, make_token):
    now = timezone.now()
    lapsing = make_token(90000001, SCOPES)
    _set(lapsing, access_token_expires=now + dt.timedelta(minutes=2))
    fresh = make_token(90000002, SCOPES)
    old = make_token(90000003, SCOPES)
    _set(old, access_token_expires=now - dt.timedelta(days=2), updated=now - dt.timedelta(days=2))
    idle_expired = make_token(90000001, SCOPES)  # expired an hour ago but validated recently: left alone
    _set(idle_expired, access_token_expires=now - dt.timedelta(hours=1), updated=now - dt.timedelta(hours=1))
    no_refresh = make_token(90000002, SCOPES)
    _set(no_refresh, refresh_token=None, updated=now - dt.timedelta(days=3))
    selected = token_refresh.select_for_sweep(now=now, interval=300)
    assert selected == [lapsing.pk, old.pk]
    assert fresh.pk not in selected


def test_sweep_refreshes_in_bounded_lanes(threads_worker, esi_sim, make_token, settings):
    settings.ESI_REFRESH_SWEEP_CONCURRENCY = 2
    now = timezone.now()
    tokens = [make_token(90000001 + i % 3, SCOPES) for i in range(4)]
    for t in tokens:
        _set(t, access_token_expires=now + dt.timedelta(minutes=1))
    revoked = make_token(90000002, SCOPES)
    _set(revoked, updated=now - dt.timedelta(days=2))
    esi_sim.revoke_refresh_token(revoked.refresh_token)
    esi_sim.configure_route("SsoToken", latency=0.4)
    start = time.monotonic()
    summary = refresh_tokens.delay(interval=300).get(timeout=30)
    assert summary["tokens"] == 5 and summary["lanes"] == 2
    outcomes = [AsyncResult(task_id).get(timeout=30) for task_id in summary["task_ids"]]
    elapsed = time.monotonic() - start
    merged = {}
    for counts in outcomes:
        for k, v in counts.items():
            merged[k] = merged.get(k, 0) + v
    assert merged == {"refreshed": 4, "invalid": 1}
    # 5 refreshes of 0.4 s, at most 2 at a time: at least 3 rounds
    assert elapsed >= 1.1
    # the lanes are done: the next sweep runs (and finds nothing to do)
    assert refresh_tokens.delay(interval=300).get(timeout=30)["tokens"] == 0
    assert not Token.objects.filter(pk=revoked.pk).exists()
    for t in tokens:
        t.refresh_from_db()
        assert t.access_token_expires > now + dt.timedelta(minutes=15)
    # the sweep's own refresh does not keep an idle token hot forever
    _set(tokens[0], access_token_expires=timezone.now() + dt.timedelta(minutes=2))
    assert tokens[0].pk not in token_refresh.select_for_sweep(interval=300)


def test_lanes_split_evenly():
    assert token_refresh.split_lanes([1, 2, 3, 4, 5], 2) == [[1, 3, 5], [2, 4]]
    assert token_refresh.split_lanes([1], 20) == [[1]]
    assert token_refresh.split_lanes([], 3) == []


def test_cleanup_callback_redirects_task(threads_worker, esi_sim):
    from esi.models import CallbackRedirect
    from esi_tasks.tasks import cleanup_callback_redirects

    old = CallbackRedirect.objects.create(url="/", session_key="s1", state="old-state")
    CallbackRedirect.objects.filter(pk=old.pk).update(created=timezone.now() - dt.timedelta(hours=2))
    CallbackRedirect.objects.create(url="/", session_key="s2", state="new-state")
    assert cleanup_callback_redirects.delay().get(timeout=20) == 1
    assert list(CallbackRedirect.objects.values_list("state", flat=True)) == ["new-state"]


def test_sweep_waits_for_the_previous_sweeps_lanes(threads_worker, esi_sim, make_token):
    now = timezone.now()
    for i in range(2):
        _set(make_token(90000001 + i, SCOPES), access_token_expires=now + dt.timedelta(minutes=1))
    esi_sim.configure_route("SsoToken", latency=1.5)
    first = refresh_tokens.delay(interval=300).get(timeout=30)
    assert first["tokens"] == 2
    second = refresh_tokens.delay(interval=300).get(timeout=30)
    assert second["skipped"] is True and set(second["task_ids"]) <= set(first["task_ids"])
    for task_id in first["task_ids"]:
        AsyncResult(task_id).get(timeout=30)
    assert "skipped" not in refresh_tokens.delay(interval=300).get(timeout=30)
