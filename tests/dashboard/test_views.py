"""The dashboard page and feed: who may see them, what they show, and how they degrade."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis as redis_lib
from celery import Celery
from django.contrib.auth.models import Permission
from django.test import Client

import esi_tasks.dashboard
import tests.celery_app  # noqa: F401  (the suite's Celery app, on the test Redis, is the current app)
from esi.client import EsiClient
from esi.client.limits import get_limiter
from esi.dashboard.counters import recorder
from esi.dashboard.panels import Panel, collect, register, require_scopes, unregister
from esi.models import Token
from esi.redis_pool import reset_redis
from esi.signals import token_invalidated
from esi_tasks import keep_fresh

pytestmark = pytest.mark.django_db

PAGE, FEED = "/sso/dashboard/", "/sso/dashboard/data/"


def _user(django_user_model: Any, name: str, *, staff: bool, allowed: bool) -> Any:
    user = django_user_model.objects.create_user(name, password="pw", is_staff=staff)
    if allowed:
        user.user_permissions.add(Permission.objects.get(content_type__app_label="esi", codename="view_dashboard"))
    return user


def _as(user: Any) -> Client:
    browser = Client()
    browser.force_login(user)
    return browser


def _panels(browser: Client) -> dict[str, dict[str, Any]]:
    response = browser.get(FEED)
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    feed = response.json()
    assert feed["generated_at"].endswith("Z")
    return {p["name"]: p for p in feed["panels"]}


def test_anonymous_visitors_are_sent_to_the_login(client: Client) -> None:
    for url in (PAGE, FEED, "/admin/esi/dashboard/"):
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_only_staff_with_the_permission_get_in(django_user_model: Any) -> None:
    refused = [
        _user(django_user_model, "staff-without", staff=True, allowed=False),
        _user(django_user_model, "user-with", staff=False, allowed=True),
    ]
    for user in refused:
        assert _as(user).get(PAGE).status_code == 403
        assert _as(user).get(FEED).status_code == 403
    allowed = _as(_user(django_user_model, "ops", staff=True, allowed=True))
    page = allowed.get(PAGE)
    assert page.status_code == 200
    assert b'id="panel-error_limit"' in page.content and b'id="esi-feed"' in page.content
    assert b"esi/dashboard/dashboard.js" in page.content


def test_the_admin_index_links_the_dashboard_for_holders_only(django_user_model: Any) -> None:
    ops = _as(_user(django_user_model, "ops", staff=True, allowed=True))
    other = _as(_user(django_user_model, "other", staff=True, allowed=False))
    assert b"/admin/esi/dashboard/" in ops.get("/admin/").content
    assert b"/admin/esi/dashboard/" not in other.get("/admin/").content
    page = ops.get("/admin/esi/dashboard/")
    assert page.status_code == 200 and b'data-url="/admin/esi/dashboard/data/"' in page.content
    assert ops.get("/admin/esi/dashboard/data/").status_code == 200
    assert other.get("/admin/esi/dashboard/").status_code == 403


def test_the_feed_shows_calls_budgets_queues_and_tokens(
    admin_client: Client, esi_client: EsiClient, esi_sim: Any, django_user_model: Any
) -> None:
    esi_client.call("GetStatus")
    esi_client.call("GetStatus")
    esi_sim.configure_route("GetAlliances", status=404)
    with pytest.raises(Exception, match="404"):
        esi_client.call("GetAlliances")
    recorder.flush()
    owner = django_user_model.objects.create_user("pilot")
    Token.objects.create(
        character_id=90000042, character_name="No Refresh", user=owner, access_token="a", refresh_token=""
    )
    token_invalidated.send(sender=Token, token=None, token_id=7, character_id=90000043, reason="invalid_grant")
    require_scopes("my-app", ["esi-assets.read_assets.v1"])
    try:
        panels = _panels(admin_client)
    finally:
        require_scopes("my-app", [])

    assert all(p["ok"] for name, p in panels.items() if name != "workers"), panels
    traffic = panels["traffic"]["data"]
    assert traffic["totals"]["cache hits"] == 1 and traffic["totals"]["requests"] == 2
    assert traffic["totals"]["errors"] == 1
    assert len(traffic["x"]) == 60 and traffic["x"][-1].endswith(":00Z")
    recent = panels["recent"]["data"]["rows"]
    assert [row[1] for row in recent] == ["GetAlliances", "GetStatus", "GetStatus"]
    assert recent[1][5] == "cache" and recent[0][0].endswith("Z")
    (failure,) = panels["failures"]["data"]["rows"]
    assert failure[4] == "EsiNotFound"
    problems = {(row[0], row[2]) for row in panels["tokens"]["data"]["rows"]}
    assert (90000042, "no refresh token: cannot be refreshed") in problems
    assert (90000043, "deleted: invalid_grant") in problems
    assert (90000042, "my-app needs esi-assets.read_assets.v1") in problems
    assert panels["error_limit"]["data"]["remain"] is not None  # GetStatus reports the error limit
    queues = dict(map(tuple, panels["queues"]["data"]["rows"]))
    assert set(queues) >= {"esi", "esi_tokens", "celery"}
    assert panels["sweep"]["data"]["items"][0][0] == "sweep"


def test_rate_limit_groups_come_closest_to_exhaustion_first(admin_client: Client, esi_sim: Any) -> None:
    limiter = get_limiter()
    snap = {
        "groups": [
            {
                "group": "a",
                "identity": "app",
                "max_tokens": 10,
                "used": 1,
                "remaining": 9,
                "full_in": 1,
                "paused_for": 0,
            },
            {"group": "b", "identity": "1", "max_tokens": 10, "used": 9, "remaining": 1, "full_in": 5, "paused_for": 0},
        ]
    }
    original = type(limiter).snapshot
    type(limiter).snapshot = lambda self: snap  # type: ignore[method-assign]
    try:
        rows = _panels(admin_client)["rate_limits"]["data"]["rows"]
    finally:
        type(limiter).snapshot = original  # type: ignore[method-assign]
    assert [r["label"] for r in rows] == ["b / 1", "a / app"]


def test_redis_down_shows_in_the_panels_not_as_an_error_page(admin_client: Client, settings: Any) -> None:
    settings.ESI_REDIS_URL = "redis://127.0.0.1:1/0"
    settings.ESI_REDIS_RETRIES = 0
    settings.ESI_REDIS_CONNECT_TIMEOUT = 0.5
    reset_redis()
    page = admin_client.get(PAGE)
    assert page.status_code == 200
    panels = _panels(admin_client)
    for name in ("error_limit", "traffic", "recent", "failures"):
        assert not panels[name]["ok"] and panels[name]["error"].startswith("Redis unavailable: "), panels[name]


def test_a_broken_panel_is_one_line_and_the_rest_still_answer(stats: redis_lib.Redis) -> None:
    def broken() -> Any:
        raise RuntimeError("no such thing")

    register(Panel("broken", "Broken", "stats", broken, 1))
    try:
        out = {p["name"]: p for p in collect()}
    finally:
        unregister("broken")
    assert out["broken"] == {
        "name": "broken",
        "title": "Broken",
        "kind": "stats",
        "help": "",
        "ok": False,
        "error": "RuntimeError: no such thing",
    }
    assert out["traffic"]["ok"]


def test_a_panel_kind_must_be_known() -> None:
    with pytest.raises(ValueError, match="kind must be one of"):
        Panel("x", "X", "pie", dict)


def test_the_page_embeds_the_feed_as_json(admin_client: Client, stats: redis_lib.Redis) -> None:
    page = admin_client.get(PAGE).content.decode()
    start = page.index('<script id="esi-feed" type="application/json">') + len(
        '<script id="esi-feed" type="application/json">'
    )
    feed = json.loads(page[start : page.index("</script>", start)])
    assert {"generated_at", "refresh_seconds", "panels"} <= set(feed)


def test_a_broker_down_shows_in_its_panels(admin_client: Client, stats: redis_lib.Redis, monkeypatch: Any) -> None:
    down = Celery("broker-down", broker="redis://127.0.0.1:1/0", set_as_current=False)
    down.conf.broker_connection_retry_on_startup = False
    monkeypatch.setattr(esi_tasks.dashboard, "current_app", down)
    panels = _panels(admin_client)
    for name in ("queues", "workers"):
        assert not panels[name]["ok"] and panels[name]["error"].startswith("Broker unavailable: "), panels[name]
    assert panels["traffic"]["ok"] and panels["error_limit"]["ok"]  # Redis answers: its panels do too


def test_keep_fresh_chains_are_counted(admin_client: Client, stats: redis_lib.Redis) -> None:
    keep_fresh.start_many("GetUniverseTypesTypeId", [{"type_id": n} for n in range(34, 39)], spread=3600)
    items = dict(map(tuple, _panels(admin_client)["chains"]["data"]["items"]))
    assert items == {"keep-fresh chains": 5, "late": 0}
