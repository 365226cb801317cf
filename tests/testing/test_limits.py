"""Error limit (420) and rate limits (429) reach their limit and recover after a short window."""

from __future__ import annotations

import time

import httpx

from esi.testing import SimulatorControl

from .conftest import ASSETS_SCOPE, bearer


def test_error_limit_counts_down_then_420_then_recovers(http: httpx.Client, esi_sim: SimulatorControl) -> None:
    esi_sim.set_error_limit(limit=3, window=2)
    ok = http.get("/universe/races")
    assert ok.headers["x-esi-error-limit-remain"] == "3"
    errors = [http.get("/universe/types/abc") for _ in range(3)]
    assert [e.headers["x-esi-error-limit-remain"] for e in errors] == ["2", "1", "0"]
    assert 0 <= int(errors[-1].headers["x-esi-error-limit-reset"]) <= 2
    limited = http.get("/universe/races")
    assert limited.status_code == 420
    assert limited.text.startswith("This software has exceeded the error limit for ESI.")
    assert http.get("/status").status_code == 420  # 420 applies to every route
    time.sleep(2.1)
    again = http.get("/universe/races")
    assert again.status_code == 200 and again.headers["x-esi-error-limit-remain"] == "3"
    assert esi_sim.stats()["by_status"]["420"] == 2


def test_errors_on_rate_limited_routes_do_not_spend_the_error_budget(
    http: httpx.Client, esi_sim: SimulatorControl
) -> None:
    esi_sim.set_error_limit(limit=2, window=60)
    for _ in range(3):
        r = http.get("/characters/90000001/assets")
        assert r.status_code == 401 and "x-esi-error-limit-remain" not in r.headers
        assert r.headers["x-ratelimit-used"] == "5"  # 4xx costs 5 tokens
    assert http.get("/universe/races").headers["x-esi-error-limit-remain"] == "2"


def test_rate_limit_429_with_retry_after_then_recovers(http: httpx.Client, esi_sim: SimulatorControl) -> None:
    esi_sim.configure_route("GetStatus", rate_limit={"max_tokens": 6, "window": 2})
    answers = [http.get("/status") for _ in range(3)]
    assert [a.headers["x-ratelimit-remaining"] for a in answers] == ["4", "2", "0"]
    assert answers[0].headers["x-ratelimit-limit"] == "6/2s"
    limited = http.get("/status")
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert limited.headers["x-ratelimit-used"] == "0" and "error" in limited.json()
    time.sleep(2.05)
    assert http.get("/status").status_code == 200
    assert esi_sim.stats()["by_route"]["GetStatus"] == {"200": 4, "429": 1}


def test_floating_window_returns_tokens_as_they_age(http: httpx.Client, esi_sim: SimulatorControl) -> None:
    esi_sim.configure_route("GetStatus", rate_limit={"max_tokens": 4, "window": 2})
    http.get("/status")
    time.sleep(1.0)
    http.get("/status")
    assert http.get("/status").status_code == 429
    time.sleep(1.2)  # the first spend came back (2 s old), the second not yet (1.2 s old)
    r = http.get("/status")
    assert r.status_code == 200 and r.headers["x-ratelimit-remaining"] == "0"


def test_buckets_are_per_character_on_authed_routes(http: httpx.Client, esi_sim: SimulatorControl) -> None:
    esi_sim.configure_route("GetCharactersCharacterIdAssets", rate_limit={"max_tokens": 2, "window": 30})
    one = bearer(esi_sim.issue_tokens(90000001, [ASSETS_SCOPE]))
    two = bearer(esi_sim.issue_tokens(90000002, [ASSETS_SCOPE]))
    assert http.get("/characters/90000001/assets", headers=one).status_code == 200
    assert http.get("/characters/90000001/assets", headers=one).status_code == 429
    r = http.get("/characters/90000002/assets", headers=two)
    assert r.status_code == 200 and r.headers["x-ratelimit-group"] == "char-asset"


def test_spec_groups_are_shared_by_their_routes(http: httpx.Client, esi_sim: SimulatorControl) -> None:
    esi_sim.configure_route("*", rate_limit={"max_tokens": 4, "window": 30})
    assert http.get("/meta/compatibility-dates").headers["x-ratelimit-group"] == "meta"
    assert http.get("/meta/status", headers={"X-Compatibility-Date": "2026-08-04"}).status_code == 200
    assert http.get("/meta/compatibility-dates").status_code == 429  # same "meta" bucket
    assert http.get("/status").status_code == 200  # another group


def test_forced_429_and_retry_after(http: httpx.Client, esi_sim: SimulatorControl) -> None:
    esi_sim.configure_route("GetUniverseRaces", status=429, retry_after=3)
    r = http.get("/universe/races")
    assert r.status_code == 429 and r.headers["retry-after"] == "3"


def test_420_carries_retry_after_and_an_empty_budget(http: httpx.Client, esi_sim: SimulatorControl) -> None:
    esi_sim.set_error_limit(limit=1, window=5)
    http.get("/universe/types/abc")
    limited = http.get("/universe/races")
    assert limited.status_code == 420
    assert 1 <= int(limited.headers["retry-after"]) <= 5
    assert limited.headers["x-esi-error-limit-remain"] == "0"
    assert esi_sim.stats()["by_status"] == {"400": 1, "420": 1}


def test_5xx_and_429_cost_no_tokens(http: httpx.Client, esi_sim: SimulatorControl) -> None:
    esi_sim.configure_route("GetStatus", status=503)
    r = http.get("/status")
    assert r.status_code == 503 and r.headers["x-ratelimit-used"] == "0"
    assert r.headers["x-ratelimit-remaining"] == "600"
