"""django-esi 10's task names (``esi.tasks.*``) still run, so upgraded beat schedules keep working."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from esi import tasks as legacy_tasks
from esi.models import CallbackRedirect, Token
from tests.tasks.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_legacy_names_are_registered() -> None:
    names = {task.name for task in vars(legacy_tasks).values() if hasattr(task, "delay")}
    assert names == {
        "esi.tasks.cleanup_callbackredirect",
        "esi.tasks.cleanup_token",
        "esi.tasks.cleanup_token_subset",
        "esi.tasks.refresh_or_delete_token",
    }


def test_cleanup_token_deletes_orphans_refreshes_live_tokens_and_drops_dead_ones(
    threads_worker: Any, esi_sim: Any, make_token: Any
) -> None:
    user = User.objects.create(username="pilot")
    orphan = make_token(90000003, ["esi-assets.read_assets.v1"], user=None)
    alive = make_token(90000001, ["esi-assets.read_assets.v1"], user=user, expires_in=-300)
    dead = make_token(90000002, ["esi-assets.read_assets.v1"], user=user, expires_in=-300)
    esi_sim.revoke_refresh_token(dead.refresh_token)

    assert legacy_tasks.cleanup_token.delay().get(timeout=30) == 2

    # Both refreshes run in the worker: wait for each outcome, not just the first one.
    wait_for(lambda: not Token.objects.filter(pk=dead.pk).exists(), timeout=20)
    wait_for(lambda: Token.objects.filter(pk=alive.pk, access_token_expires__gt=timezone.now()).exists(), timeout=20)
    alive.refresh_from_db()
    assert alive.access_token_expires > timezone.now()
    assert not Token.objects.filter(pk=orphan.pk).exists()
    assert esi_sim.stats()["sso"]["token_refresh_token"] == 2


def test_cleanup_callbackredirect_deletes_only_old_logins(threads_worker: Any) -> None:
    old = CallbackRedirect.objects.create(session_key="old", state="a", url="/")
    CallbackRedirect.objects.filter(pk=old.pk).update(created=timezone.now() - dt.timedelta(minutes=10))
    CallbackRedirect.objects.create(session_key="new", state="b", url="/")

    assert legacy_tasks.cleanup_callbackredirect.delay(300).get(timeout=30) == 1
    assert list(CallbackRedirect.objects.values_list("session_key", flat=True)) == ["new"]
