"""What a person sees at the edges: commands and the admin when Redis or the broker is down, progress, wording."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from esi.redis_pool import reset_redis
from esi_tasks.models import EndpointSchedule
from tests.celery_app import app as test_app

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]
DEAD = "redis://127.0.0.1:1/0"  # nothing listens on port 1


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def broker_down() -> Iterator[None]:
    """The test Celery app pointed at a port where no broker listens (real kombu, real refusal)."""
    saved = test_app.conf.broker_url

    def point_at(url: str) -> None:
        test_app.conf.broker_url = url
        test_app._pool = None
        test_app.amqp._producer_pool = None

    point_at(DEAD)
    try:
        yield
    finally:
        point_at(saved)


def test_esi_fetch_with_redis_down_prints_one_line_and_exits_1(tmp_path: Path) -> None:
    (tmp_path / "redis_down.py").write_text(  # no retries: a refused connection fails at once
        f"from tests.settings import *  # noqa: F403\nESI_REDIS_URL = {DEAD!r}\nESI_REDIS_RETRIES = 0\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "redis_down",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
    }
    manage = (  # as a project's manage.py does, with its Celery app loaded
        "import tests.celery_app; from django.core.management import execute_from_command_line; "
        "execute_from_command_line(['manage.py', 'esi_fetch', 'GetStatus'])"
    )
    done = subprocess.run([sys.executable, "-c", manage], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("CommandError: RedisUnavailable: ") or lines[0].startswith("CommandError: Redis ")
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_esi_status_with_redis_down_is_one_clear_error(esi_sim: Any, settings: Any) -> None:
    settings.ESI_REDIS_URL = DEAD
    settings.ESI_REDIS_RETRIES = 0  # a refused connection fails at once, not after 3.5 s of backoff
    reset_redis()
    with pytest.raises(CommandError, match=r"The shared budgets cannot be read: .*ESI_REDIS_URL.* not answer"):
        run("esi_status", "--no-request")


def test_esi_status_says_what_it_knows_of_the_error_window(esi_sim: Any, redis_client: Any) -> None:
    from esi.client import reset_client

    reset_client()
    text, _ = run("esi_status", "--no-request")
    line = next(line for line in text.splitlines() if line.startswith("Error limit:"))
    assert line.startswith("Error limit: not reported by ESI in the current window")
    assert "unknown" not in line and "resets in -" not in line
    run("esi_fetch", "GetAlliances")  # a route without a rate-limit group reports the error budget
    text, _ = run("esi_status", "--no-request")
    line = next(line for line in text.splitlines() if line.startswith("Error limit:"))
    assert "errors left, window resets in " in line


def test_no_token_hint_names_the_command_flag(esi_sim: Any, redis_client: Any) -> None:
    with pytest.raises(CommandError) as caught:
        run("esi_fetch", "GetCharactersCharacterIdAssets", "character_id=90000001")
    assert "--token-id N" in str(caught.value) and "token_id=..." not in str(caught.value)


def test_esi_fetch_all_pages_reports_each_page_on_its_own_line(esi_sim: Any, redis_client: Any) -> None:
    esi_sim.configure_route("GetMarketsRegionIdOrders", pages=4)
    out, err = run("esi_fetch", "GetMarketsRegionIdOrders", "region_id=10000002", "--all-pages")
    assert isinstance(json.loads(out), list)  # stdout stays pure JSON
    assert err.splitlines() == [f"GetMarketsRegionIdOrders: page {n} of 4" for n in (1, 2, 3, 4)]


def test_esi_refresh_tokens_progress_is_whole_lines(esi_sim: Any, redis_client: Any, make_token: Any) -> None:
    for _ in range(3):
        make_token(90000001, ["esi-assets.read_assets.v1"])
    out, _ = run("esi_refresh_tokens", "--all", "--concurrency=1")
    assert "\r" not in out
    assert out.splitlines()[:4] == [
        "Refreshing 3 token(s), 1 at once",
        "1/3 tokens  refreshed=1",
        "2/3 tokens  refreshed=2",
        "3/3 tokens  refreshed=3",
    ]


def test_enqueue_with_the_broker_down_is_one_clear_error(broker_down: None, redis_client: Any) -> None:
    for command in (["esi_fetch", "GetStatus", "--enqueue"], ["esi_refresh_tokens", "--enqueue"]):
        with pytest.raises(CommandError, match=r"The Celery broker or result backend .* does not answer"):
            run(*command)


def test_admin_run_now_with_the_broker_down_shows_a_message(client: Any, broker_down: None, esi_sim: Any) -> None:
    client.force_login(get_user_model().objects.create_superuser("admin", "admin@example.com", "pw"))
    schedule = EndpointSchedule.objects.create(name="status", operation="GetStatus", every_minutes=5)
    response = client.post(
        "/admin/esi_tasks/endpointschedule/", {"action": "run_now", "_selected_action": [schedule.pk]}, follow=True
    )
    assert response.status_code == 200
    text = [str(m) for m in response.context["messages"]]
    assert len(text) == 1 and text[0].startswith("Not queued: The Celery broker or result backend")
