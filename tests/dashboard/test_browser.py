"""The dashboard in a real browser: headless Chromium (Debian's, driven by playwright) against a
live Django server while a real Celery worker fetches from the simulator.

The browser is installed by ``scripts/ensure-browser`` (called from ``scripts/test``); playwright
never downloads one. The screenshot is kept as a CI artefact: ``artifacts/dashboard.png``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker
from django.contrib.auth.models import Permission
from django.test import Client
from playwright.sync_api import Browser, Page, sync_playwright

from esi.dashboard.counters import recorder
from esi_tasks.tasks import fetch_endpoint
from tests.celery_app import app as test_app

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("ESI_TEST_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = ROOT / "artifacts" / "dashboard.png"

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[Browser]:
    # playwright's sync API keeps an event loop on this thread; the test's own ORM calls are sync
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run scripts/ensure-browser (or set ESI_TEST_CHROMIUM)")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def worker(redis_client: Any, esi_sim: Any) -> Iterator[Any]:
    with start_worker(
        test_app,
        pool="threads",
        concurrency=2,
        queues=["esi_tokens", "esi", "celery"],
        perform_ping_check=True,
        shutdown_timeout=30,
        loglevel="WARNING",
    ) as running:
        yield running


def _login(page: Page, base: str, name: str) -> None:
    """Through the admin's login form, as a person would."""
    page.goto(f"{base}/admin/login/?next=/sso/dashboard/")
    page.fill("#id_username", name)
    page.fill("#id_password", "pw")
    page.click("input[type=submit]")


def _requests(page: Page) -> int:
    return int(page.inner_text('#panel-traffic [data-total="requests"]'))


def test_staff_see_the_numbers_change_without_a_reload(
    browser: Browser, live_server: Any, worker: Any, django_user_model: Any
) -> None:
    recorder.drop()
    ops = django_user_model.objects.create_user("ops", password="pw", is_staff=True)
    ops.user_permissions.add(Permission.objects.get(content_type__app_label="esi", codename="view_dashboard"))
    pilot = django_user_model.objects.create_user("pilot", password="pw", is_staff=False)
    base = live_server.url

    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    _login(page, base, "ops")
    page.wait_for_url(f"{base}/sso/dashboard/")
    page.wait_for_selector('#panel-traffic [data-total="requests"]')
    before = _requests(page)
    page.evaluate("window.__not_reloaded = true")

    results = [fetch_endpoint.delay("GetUniverseTypesTypeId", type_id=n) for n in (34, 35, 36)]
    results.append(fetch_endpoint.delay("GetStatus"))
    for result in results:
        result.get(timeout=60)
    # the worker's counts reach Redis within a second; the page polls every 5 s
    page.wait_for_function(
        f"Number(document.querySelector('#panel-traffic [data-total=\"requests\"]').textContent) >= {before + 4}",
        timeout=60_000,
    )
    assert page.evaluate("window.__not_reloaded === true")  # the same page: no reload happened
    assert _requests(page) >= before + 4
    recent = page.inner_text("#panel-recent")
    assert "GetUniverseTypesTypeId" in recent and "UTC" in recent
    assert page.get_attribute("#panel-error_limit", "data-ok") == "1"
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    signed_in = Client()
    signed_in.force_login(pilot)  # a signed-in user who is not staff
    context = browser.new_context()
    context.add_cookies([{"name": "sessionid", "value": signed_in.cookies["sessionid"].value, "url": base}])
    other = context.new_page()
    for url in ("/sso/dashboard/", "/sso/dashboard/data/"):
        response = other.goto(base + url)
        assert response is not None and response.status == 403, url
        assert "panel-traffic" not in other.content()
    other.goto(f"{base}/admin/esi/dashboard/")  # the admin sends non-staff to its login
    assert "/admin/login/" in other.url and "panel-traffic" not in other.content()
    anonymous = browser.new_page()
    anonymous.goto(f"{base}/sso/dashboard/")
    assert "/admin/login/" in anonymous.url and "panel-traffic" not in anonymous.content()
