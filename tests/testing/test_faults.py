"""Faults on demand: error share, forced status, latency (not blocking others), hang, drop, malformed, downtime."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest

from esi.testing import SimulatorControl


def test_error_rate_gives_a_share_of_configured_statuses(http: httpx.Client, esi_sim: SimulatorControl) -> None:
    esi_sim.configure_route("GetUniverseRaces", error_rate=0.5, error_statuses=[502, 504])
    statuses = [http.get("/universe/races").status_code for _ in range(60)]
    errors = [s for s in statuses if s != 200]
    assert set(errors) <= {502, 504} and 15 <= len(errors) <= 45
    assert json.loads(http.get("/universe/races").text) is not None


def test_forced_status_bodies_match_esi(http: httpx.Client, esi_sim: SimulatorControl) -> None:
    for status, fragment in [
        (502, "No reply within 10 seconds"),
        (503, "temporarily unavailable"),
        (504, "Timeout contacting tranquility"),
        (500, "Internal"),
    ]:
        esi_sim.configure_route("GetStatus", status=status)
        r = http.get("/status")
        assert r.status_code == status and fragment in r.json()["error"]
    esi_sim.configure_route("GetStatus", status=420)
    assert http.get("/status").status_code == 420


def test_global_options_apply_unless_the_route_overrides(http: httpx.Client, esi_sim: SimulatorControl) -> None:
    esi_sim.configure_route("*", status=500)
    esi_sim.configure_route("GetStatus", status=503)
    assert http.get("/universe/races").status_code == 500
    assert http.get("/status").status_code == 503


def test_latency_delays_only_its_route(esi_sim: SimulatorControl) -> None:
    esi_sim.configure_route("GetUniverseRaces", latency=1.0)
    slow_done: list[float] = []

    def slow() -> None:
        with httpx.Client(base_url=esi_sim.url) as client:
            start = time.monotonic()
            client.get("/universe/races")
            slow_done.append(time.monotonic() - start)

    threads = [threading.Thread(target=slow) for _ in range(5)]
    for t in threads:
        t.start()
    time.sleep(0.1)
    with httpx.Client(base_url=esi_sim.url) as client:
        for _ in range(10):
            assert client.get("/status").status_code == 200
        still_waiting = 5 - len(slow_done)
    for t in threads:
        t.join()
    assert still_waiting == 5  # ten fast requests were answered while all five slow ones waited
    assert all(d >= 1.0 for d in slow_done) and len(slow_done) == 5


def test_latency_jitter(http: httpx.Client, esi_sim: SimulatorControl) -> None:
    esi_sim.configure_route("GetStatus", latency=0.05, latency_jitter=0.1)
    start = time.monotonic()
    http.get("/status")
    assert 0.05 <= time.monotonic() - start < 1


def test_hang_outlasts_the_client_timeout(http: httpx.Client, esi_sim: SimulatorControl) -> None:
    esi_sim.configure_route("GetStatus", hang=True)
    with pytest.raises(httpx.ReadTimeout):
        http.get("/status", timeout=0.3)
    assert http.get("/universe/races").status_code == 200
    esi_sim.configure_route("GetStatus", hang=0.2)  # a number: answer 504 after that many seconds
    assert http.get("/status", timeout=2).status_code == 504


def test_drop_closes_the_connection(http: httpx.Client, esi_sim: SimulatorControl) -> None:
    esi_sim.configure_route("GetStatus", drop=True)
    with pytest.raises(httpx.RemoteProtocolError):
        http.get("/status")
    assert http.get("/universe/races").status_code == 200
    assert esi_sim.request_log("GetStatus")[0]["status"] == 0


def test_malformed_json(http: httpx.Client, esi_sim: SimulatorControl) -> None:
    esi_sim.configure_route("GetStatus", malformed=True)
    r = http.get("/status")
    assert r.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        r.json()


def test_downtime_makes_everything_503_until_it_ends(http: httpx.Client, esi_sim: SimulatorControl) -> None:
    esi_sim.set_downtime(0.5)
    r = http.get("/status")
    assert r.status_code == 503 and "retry-after" in r.headers
    assert http.get("/universe/types/34").status_code == 503
    assert http.get("/.well-known/oauth-authorization-server").status_code == 200  # SSO stays up
    time.sleep(0.55)
    assert http.get("/status").status_code == 200


def test_meta_status_reports_broken_routes(http: httpx.Client, esi_sim: SimulatorControl) -> None:
    esi_sim.configure_route("GetUniverseRaces", status=503)
    esi_sim.configure_route("GetStatus", error_rate=0.1)
    routes = http.get("/meta/status", headers={"X-Compatibility-Date": "2026-08-04"}).json()["routes"]
    by_path = {r["path"]: r["status"] for r in routes}
    assert by_path["/universe/races"] == "Down" and by_path["/status"] == "Degraded"
    assert by_path["/universe/types"] == "OK"


def test_a_hung_request_counts_as_an_error(http: httpx.Client, esi_sim: SimulatorControl) -> None:
    esi_sim.configure_route("GetUniverseRaces", hang=True)
    with pytest.raises(httpx.ReadTimeout):
        http.get("/universe/races", timeout=0.2)
    assert http.get("/universe/types/34").headers["x-esi-error-limit-remain"] == "99"
    assert esi_sim.request_log("GetUniverseRaces")[0]["status"] == 0


def test_global_faults_leave_the_sso_alone(http: httpx.Client, esi_sim: SimulatorControl) -> None:
    esi_sim.configure_route("*", status=503)
    assert http.get("/status").status_code == 503
    assert http.get("/oauth/jwks").status_code == 200
    esi_sim.configure_route("SsoJwks", status=502)
    assert http.get("/oauth/jwks").status_code == 502
