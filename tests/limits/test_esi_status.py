"""``manage.py esi_status`` prints ESI's status and the shared budgets."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from esi.client import get_client, reset_client
from esi.client.limits import reset_limiter


@pytest.fixture(autouse=True)
def _fresh(redis_client: Any) -> Any:
    reset_client()
    reset_limiter()
    yield
    reset_limiter()
    reset_client()


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("esi_status", *args, stdout=out)
    return out.getvalue()


def test_status_and_budgets(esi_sim: Any) -> None:
    esi_sim.configure_route("GetStatus", rate_limit={"max_tokens": 40, "window": 30})
    text = run()
    players = get_client().call("GetStatus").data["players"]
    assert f"ESI: {players} players online" in text
    assert "Error limit: " in text and "threshold 10" in text
    assert "Daily downtime: not configured" in text
    assert "status/app" in text and "38/40 tokens left per 30 s" in text


def test_json_output(esi_sim: Any) -> None:
    data = json.loads(run("--json"))
    assert set(data["status"]) >= {"players", "server_version", "start_time"}
    assert data["error"] is None
    assert data["limits"]["enabled"] is True
    assert [g["group"] for g in data["limits"]["groups"]] == ["status"]


def test_paused_budgets_are_shown_and_the_failure_is_an_error(esi_sim: Any) -> None:
    esi_sim.configure_route("GetStatus", status=420, retry_after=30)
    out = io.StringIO()
    with pytest.raises(CommandError, match="EsiErrorLimited"):
        call_command("esi_status", stdout=out)
    assert "PAUSED (420)" in out.getvalue()


def test_no_request_and_downtime(esi_sim: Any, settings: Any) -> None:
    settings.ESI_DOWNTIME_START = "11:00"
    text = run("--no-request")
    assert "ESI: not asked" in text and "Daily downtime: 11:00 UTC for 900 s" in text
    assert esi_sim.stats()["total"] == 0


def test_limits_off(esi_sim: Any, settings: Any) -> None:
    settings.ESI_RATE_LIMITING = False
    assert "Shared limits: off" in run()


def test_unreachable_redis_is_a_clear_error(esi_sim: Any, settings: Any) -> None:
    settings.ESI_REDIS_URL = "redis://127.0.0.1:1/0"
    settings.ESI_REDIS_RETRIES = 0  # a refused connection fails at once, not after 3.5 s of backoff
    with pytest.raises(CommandError, match="ESI_REDIS_URL"):
        run("--no-request")
