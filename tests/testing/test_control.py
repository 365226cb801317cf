"""Control API, counters, request log, reset, the pytest fixtures and the public surface."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest
from django.conf import settings

import esi.testing
from esi.testing import SimulatorControl, SimulatorControlError

from .conftest import ASSETS_SCOPE


def test_public_api_is_pinned() -> None:
    assert esi.testing.__all__ == sorted(esi.testing.__all__)
    assert esi.testing.__all__ == [
        "DEFAULT_CHARACTERS",
        "SimulatorControl",
        "SimulatorControlError",
        "SimulatorHandle",
        "start_simulator",
    ]
    for name in esi.testing.__all__:
        assert name in esi.testing.__doc__ or name in ("DEFAULT_CHARACTERS", "SimulatorControlError"), name


def test_fixture_points_django_at_the_simulator(esi_sim: SimulatorControl) -> None:
    assert esi_sim.url + "/" == settings.ESI_API_URL
    assert esi_sim.url == settings.ESI_SSO_BASE_URL
    assert esi_sim.url.startswith("http://127.0.0.1:")


def test_stats_and_request_log(http: httpx.Client, esi_sim: SimulatorControl) -> None:
    http.get("/status")
    etag = http.get("/status").headers["etag"]
    http.get("/status", headers={"If-None-Match": etag})
    http.get("/universe/types/34", params={"x": "1"})
    stats = esi_sim.stats()
    assert stats["total"] == 4
    assert stats["by_route"]["GetStatus"] == {"200": 2, "304": 1}
    assert stats["by_status"] == {"200": 3, "304": 1}
    log = esi_sim.request_log()
    assert [e["operation"] for e in log] == ["GetStatus"] * 3 + ["GetUniverseTypesTypeId"]
    assert log[-1]["path"] == "/universe/types/34" and log[-1]["query"] == "x=1" and log[-1]["method"] == "GET"
    assert log[2]["headers"]["if-none-match"] == etag
    assert [e["status"] for e in esi_sim.request_log("GetStatus")] == [200, 200, 304]


def test_reset_forgets_everything_but_defaults(http: httpx.Client, esi_sim: SimulatorControl) -> None:
    esi_sim.add_character(95000000, name="Temp")
    esi_sim.configure_route("*", status=500)
    esi_sim.set_downtime(60)
    http.get("/status")
    esi_sim.reset()
    assert esi_sim.stats()["total"] == 0 and esi_sim.request_log() == []
    assert http.get("/status").status_code == 200
    with pytest.raises(SimulatorControlError, match="Unknown character 95000000"):
        esi_sim.issue_tokens(95000000, [ASSETS_SCOPE])
    assert esi_sim.issue_tokens(90000003, [ASSETS_SCOPE])["access_token"]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: c.configure_route("GetNothing", status=500), "Unknown route 'GetNothing'"),
        (lambda c: c.configure_route("GetStatus", colour="red"), "Unknown route option"),
        (lambda c: c.configure_route("GetStatus", error_rate=2), "between 0 and 1"),
        (lambda c: c.configure_route("GetStatus", rate_limit={"max": 1}), "max_tokens"),
        (lambda c: c.set_error_limit(limit=0), "limit must be"),
        (lambda c: c.rotate_signing_key("HS256"), "Unsupported key algorithm"),
        (lambda c: c.set_login(123), "Unknown character 123"),
        (lambda c: c.set_roles(90000001, [1]), "roles must be a list"),
    ],
)
def test_control_errors_say_what_is_wrong(esi_sim: SimulatorControl, call, message: str) -> None:
    with pytest.raises(SimulatorControlError, match=message):
        call(esi_sim)


def test_configure_route_none_removes_an_option(http: httpx.Client, esi_sim: SimulatorControl) -> None:
    esi_sim.configure_route("GetStatus", status=503)
    assert http.get("/status").status_code == 503
    assert esi_sim.configure_route("GetStatus", status=None)["options"] == {}
    assert http.get("/status").status_code == 200


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


def test_server_exits_when_its_parent_dies() -> None:
    script = (
        "import time\n"
        "from esi.testing import start_simulator\n"
        "h = start_simulator()\n"
        "print(h.process.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child_pid = int(parent.stdout.readline())
    assert _alive(child_pid)
    parent.kill()
    parent.wait()
    parent.stdout.close()
    deadline = time.monotonic() + 5
    while _alive(child_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(child_pid):
        os.kill(child_pid, signal.SIGKILL)
        raise AssertionError("the simulator outlived its parent")


def test_unknown_control_action_is_404(http: httpx.Client) -> None:
    r = http.post("/_sim/explode", json={})
    assert r.status_code == 404 and "explode" in r.json()["error"]
    assert http.post("/_sim/reset", content=b"[]").status_code == 400


def test_sso_counters_start_at_zero(esi_sim: SimulatorControl) -> None:
    assert esi_sim.stats()["sso"] == {
        "authorize": 0,
        "jwks": 0,
        "revoke": 0,
        "token_authorization_code": 0,
        "token_refresh_token": 0,
    }
