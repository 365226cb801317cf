"""ESI side: views, generated bodies, caching headers, 304, pages, cursors, auth."""

from __future__ import annotations

import email.utils

import httpx
import pytest

from esi.testing import SimulatorControl

from .conftest import ASSETS_SCOPE, NEW, bearer


def test_status_answers_with_caching_and_rate_limit_headers(http: httpx.Client) -> None:
    r = http.get("/status")
    assert r.status_code == 200
    body = r.json()
    assert set(body) >= {"players", "server_version", "start_time"}
    assert r.headers["etag"].startswith('"')
    assert r.headers["cache-control"].startswith("public")
    expires = email.utils.parsedate_to_datetime(r.headers["expires"])
    modified = email.utils.parsedate_to_datetime(r.headers["last-modified"])
    assert 0 < (expires - modified).total_seconds() <= 30
    assert r.headers["x-ratelimit-group"] == "status"
    assert r.headers["x-ratelimit-limit"] == "600/15m"
    assert r.headers["x-ratelimit-used"] == "2"
    assert "x-esi-error-limit-remain" not in r.headers


def test_same_request_same_body_and_body_version_changes_it(http: httpx.Client, esi_sim: SimulatorControl) -> None:
    first = http.get("/universe/types/587")
    assert first.json() == http.get("/universe/types/587").json()
    assert first.json()["type_id"] == 587  # path parameters echo into same-named fields
    assert http.get("/universe/types/588").json() != first.json()
    esi_sim.configure_route("GetUniverseTypesTypeId", body_version=2)
    changed = http.get("/universe/types/587")
    assert changed.json() != first.json() and changed.headers["etag"] != first.headers["etag"]


def test_if_none_match_gives_304_without_body(http: httpx.Client, esi_sim: SimulatorControl) -> None:
    first = http.get("/universe/races")
    assert "x-esi-error-limit-remain" in first.headers  # no rate-limit group on this route
    r = http.get("/universe/races", headers={"If-None-Match": first.headers["etag"]})
    assert r.status_code == 304 and r.content == b""
    assert r.headers["etag"] == first.headers["etag"] and "last-modified" in r.headers
    assert http.get("/universe/races", headers={"If-None-Match": '"other"'}).status_code == 200
    since = http.get("/universe/races", headers={"If-Modified-Since": first.headers["last-modified"]})
    assert since.status_code == 304
    assert esi_sim.stats()["by_route"]["GetUniverseRaces"] == {"200": 2, "304": 2}


def test_304_costs_one_token(http: httpx.Client) -> None:
    first = http.get("/status")
    r = http.get("/status", headers={"If-None-Match": first.headers["etag"]})
    assert r.status_code == 304 and r.headers["x-ratelimit-used"] == "1"
    assert r.headers["x-ratelimit-remaining"] == "597"


def test_cache_seconds_override(http: httpx.Client, esi_sim: SimulatorControl) -> None:
    esi_sim.configure_route("GetStatus", cache_seconds=5)
    r = http.get("/status")
    assert r.headers["cache-control"].startswith("public, max-age=")
    assert int(r.headers["cache-control"].rsplit("=", 1)[1]) <= 5


def test_pages_and_page_beyond_the_end(http: httpx.Client, esi_sim: SimulatorControl) -> None:
    esi_sim.configure_route("GetMarketsRegionIdOrders", pages=3)
    pages = [http.get("/markets/10000002/orders", params={"page": n}) for n in (1, 2, 3)]
    assert all(p.status_code == 200 and p.headers["x-pages"] == "3" for p in pages)
    assert len({p.headers["etag"] for p in pages}) == 3
    assert len({p.headers["last-modified"] for p in pages}) == 1  # one snapshot
    assert http.get("/markets/10000002/orders", params={"page": 4}).status_code == 404
    assert http.get("/markets/10000002/orders").json() == pages[0].json()


def test_required_parameter_with_default_and_bad_parameters(http: httpx.Client) -> None:
    assert http.get("/markets/10000002/orders").status_code == 200  # order_type defaults to "all"
    bad_enum = http.get("/markets/10000002/orders", params={"order_type": "nope"})
    assert bad_enum.status_code == 400 and "order_type" in bad_enum.json()["error"]
    bad_int = http.get("/universe/types/abc")
    assert bad_int.status_code == 400 and "type_id" in bad_int.json()["error"]


def test_cursor_pagination_walks_back_and_polls_forward(http: httpx.Client, esi_sim: SimulatorControl) -> None:
    first = http.get("/freelance-jobs", headers=NEW)
    assert first.status_code == 200
    seen = list(first.json()["freelance_jobs"])
    cursor = first.json()["cursor"]
    newest_after = cursor["after"]
    while True:
        r = http.get("/freelance-jobs", headers=NEW, params={"before": cursor["before"]})
        records = r.json()["freelance_jobs"]
        if not records:
            break
        seen = records + seen
        cursor = r.json()["cursor"]
    assert len(seen) == 30  # default history: 3 x 10 records
    poll = http.get("/freelance-jobs", headers=NEW, params={"after": newest_after})
    assert poll.json()["freelance_jobs"] == []
    esi_sim.configure_route("GetFreelanceJobsListing", body_version=1)  # 5 new records appear
    poll = http.get("/freelance-jobs", headers=NEW, params={"after": newest_after})
    assert len(poll.json()["freelance_jobs"]) == 5
    both = http.get("/freelance-jobs", headers=NEW, params={"after": "0", "before": "0"})
    assert both.status_code == 400
    assert http.get("/freelance-jobs", headers=NEW, params={"after": "garbage!"}).status_code == 400


def test_compatibility_date_views(http: httpx.Client) -> None:
    old = http.get("/characters/90000001")
    assert old.status_code == 200 and old.headers["x-compatibility-date"] == "2020-01-01"
    assert http.get("/freelance-jobs").status_code == 404  # no header: oldest view
    assert http.get("/freelance-jobs", params={"compatibility_date": "2026-08-04"}).status_code == 200
    assert http.get("/sovereignty/structures").status_code == 200
    assert http.get("/sovereignty/structures", headers=NEW).status_code == 404  # removed in the new view
    future = http.get("/status", headers={"X-Compatibility-Date": "2999-01-01"})
    assert future.status_code == 400 and "future" in future.json()["error"]
    assert http.get("/status", headers={"X-Compatibility-Date": "yesterday"}).status_code == 400
    corp = http.get("/corporations/98000001", headers=NEW)
    assert corp.headers["x-compatibility-date"] == "2026-07-21"
    assert (
        http.get("/corporations/98000001", headers={"X-Compatibility-Date": "2026-01-01"}).headers[
            "x-compatibility-date"
        ]
        == "2020-01-01"
    )


def test_meta_routes(http: httpx.Client) -> None:
    dates = http.get("/meta/compatibility-dates").json()["compatibility_dates"]
    assert dates[0] == "2026-08-04" and dates[-1] == "2020-01-01" and dates == sorted(dates, reverse=True)
    spec = http.get("/meta/openapi.json", headers=NEW).json()
    assert spec["info"]["version"] == "2026-08-04" and "/freelance-jobs" in spec["paths"]
    assert http.get("/meta/openapi.json").json()["info"]["version"] == "2020-01-01"
    routes = http.get("/meta/status", headers=NEW).json()["routes"]
    assert {"method": "GET", "path": "/status", "status": "OK"} in routes


def test_views_by_date_and_a_refused_view(http: httpx.Client, esi_sim: SimulatorControl) -> None:
    between = http.get("/meta/openapi.json", headers={"X-Compatibility-Date": "2026-05-20"}).json()
    assert between["info"]["version"] == "2026-05-19"  # composed: the view's operations, as of that date
    ops = {op["operationId"]: op for item in between["paths"].values() for op in item.values()}
    assert "GetSkyhooksRaidable" in ops and "GetCharactersCharacterId" in ops  # 2026-05-19 new; renamed 2026-06-09
    assert "GetCharactersDetail" not in ops and "GetMilitaryCampaignsListing" not in ops
    assert http.get("/skyhooks/raidable", headers={"X-Compatibility-Date": "2026-05-20"}).status_code == 200
    assert all(op.get("x-compatibility-date", "2020-01-01") <= "2026-05-19" for op in ops.values())
    assert http.get("/sovereignty/map", headers=NEW).status_code == 404  # absent from the requested view
    assert http.get("/sovereignty/map").status_code == 200
    esi_sim.configure_route("GetMetaOpenapi", status=503)
    refused = http.get("/meta/openapi.json", headers=NEW)
    assert refused.status_code == 503 and "error" in refused.json()
    assert esi_sim.stats()["by_route"]["GetMetaOpenapi"] == {"200": 1, "503": 1}


def test_unknown_route_and_method(http: httpx.Client) -> None:
    r = http.get("/nope/nothing")
    assert r.status_code == 404 and "error" in r.json()
    assert http.post("/status").status_code == 405


def test_post_and_204_routes(http: httpx.Client) -> None:
    names = http.post("/universe/names", json=[90000001, 98000001])
    assert names.status_code == 200 and isinstance(names.json(), list)


@pytest.mark.parametrize(
    ("headers", "status", "fragment"),
    [
        ({}, 401, "Bearer"),
        ({"Authorization": "Bearer not-a-jwt"}, 401, "not valid"),
        ({"Authorization": "Basic abc"}, 401, "Bearer"),
    ],
)
def test_secured_routes_need_a_valid_token(http: httpx.Client, headers: dict, status: int, fragment: str) -> None:
    r = http.get("/characters/90000001/assets", headers=headers)
    assert r.status_code == status and fragment in r.json()["error"]


def test_token_scope_character_and_expiry_checks(http: httpx.Client, esi_sim: SimulatorControl) -> None:
    good = esi_sim.issue_tokens(90000001, [ASSETS_SCOPE])
    r = http.get("/characters/90000001/assets", headers=bearer(good))
    assert r.status_code == 200 and isinstance(r.json(), list)
    assert r.headers["x-ratelimit-group"] == "char-asset"
    wrong_scope = esi_sim.issue_tokens(90000001, ["esi-skills.read_skills.v1"])
    r = http.get("/characters/90000001/assets", headers=bearer(wrong_scope))
    assert r.status_code == 403 and ASSETS_SCOPE in r.json()["error"]
    other = esi_sim.issue_tokens(90000002, [ASSETS_SCOPE])
    assert http.get("/characters/90000001/assets", headers=bearer(other)).status_code == 403
    expired = esi_sim.issue_tokens(90000001, [ASSETS_SCOPE], expires_in=-5)
    r = http.get("/characters/90000001/assets", headers=bearer(expired))
    assert r.status_code == 401 and "expired" in r.json()["error"]
    log = esi_sim.request_log("GetCharactersCharacterIdAssets")
    assert [e["status"] for e in log] == [200, 403, 403, 401]
    assert log[0]["character_id"] == 90000001
    assert log[0]["headers"]["authorization"] == "Bearer <redacted>"


def test_items_option_sets_rows_per_page(http: httpx.Client, esi_sim: SimulatorControl) -> None:
    esi_sim.configure_route("GetMarketsRegionIdOrders", items=250, pages=2)
    r = http.get("/markets/10000002/orders", params={"page": 2})
    assert len(r.json()) == 250 and r.headers["x-pages"] == "2"


def test_names_and_character_details_have_meaning(http: httpx.Client, esi_sim: SimulatorControl) -> None:
    esi_sim.add_character(91234567, name="Named Pilot", corporation_id=98000123)
    names = http.post("/universe/names", json=[90000001, 98000001, 30000142]).json()
    assert names[0] == {"id": 90000001, "name": "Harness Pilot One", "category": "character"}
    assert [n["category"] for n in names[1:]] == ["corporation", "solar_system"]
    detail = http.get("/characters/91234567").json()
    assert detail["name"] == "Named Pilot" and detail["corporation_id"] == 98000123


def test_request_bodies_are_checked(http: httpx.Client) -> None:
    r = http.post("/universe/names", content=b"[1, 2", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "JSON" in r.json()["error"]
    assert http.post("/universe/names").status_code == 400


def test_304_on_a_paged_route_keeps_x_pages_and_language_changes_the_body(
    http: httpx.Client, esi_sim: SimulatorControl
) -> None:
    esi_sim.configure_route("GetMarketsRegionIdOrders", pages=2)
    first = http.get("/markets/10000002/orders", params={"page": 2})
    again = http.get("/markets/10000002/orders", params={"page": 2}, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.headers["x-pages"] == "2"
    english = http.get("/universe/types/34")
    german = http.get("/universe/types/34", headers={"Accept-Language": "de"})
    assert english.headers["content-language"] == "en" and german.headers["content-language"] == "de"
    assert german.headers["etag"] != english.headers["etag"]


def test_head_answers_headers_only(http: httpx.Client) -> None:
    get = http.get("/status")
    head = http.head("/status")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["etag"] == get.headers["etag"]


def test_corporation_routes_check_membership_and_roles(http: httpx.Client, esi_sim: SimulatorControl) -> None:
    scope = "esi-assets.read_corporation_assets.v1"
    member = bearer(esi_sim.issue_tokens(90000001, [scope]))  # corporation 98000001
    assert http.get("/corporations/98000001/assets", headers=member).status_code == 200
    other = http.get("/corporations/98000002/assets", headers=member)
    assert other.status_code == 403 and "not a member" in other.json()["error"]
    esi_sim.set_roles(90000001, ["Accountant"])
    no_role = http.get("/corporations/98000001/assets", headers=member)
    assert no_role.status_code == 403 and "Director" in no_role.json()["error"]
    esi_sim.set_roles(90000001, ["Director"])
    assert http.get("/corporations/98000001/assets", headers=member).status_code == 200


def test_from_id_walks_backwards_until_empty(http: httpx.Client, esi_sim: SimulatorControl) -> None:
    scope = "esi-wallet.read_character_wallet.v1"
    auth = bearer(esi_sim.issue_tokens(90000001, [scope]))
    url = "/characters/90000001/wallet/transactions"
    newest = http.get(url, headers=auth).json()
    ids = [t["transaction_id"] for t in newest]
    assert len(ids) == 10 and ids == sorted(ids, reverse=True)
    seen = list(ids)
    while True:
        older = http.get(url, headers=auth, params={"from_id": seen[-1]}).json()
        if not older:
            break
        assert all(t["transaction_id"] < seen[-1] for t in older)
        seen += [t["transaction_id"] for t in older]
    assert len(seen) == len(set(seen)) == 30
    esi_sim.configure_route("GetCharactersCharacterIdWalletTransactions", body_version=1)
    assert http.get(url, headers=auth).json()[0]["transaction_id"] > ids[0]  # 5 newer ones


def test_affiliation_answers_the_configured_corporations(http: httpx.Client, esi_sim: SimulatorControl) -> None:
    esi_sim.add_character(90000011, corporation_id=98000042)
    rows = http.post("/characters/affiliation", json=[90000001, 90000003, 90000011]).json()
    assert [(r["character_id"], r["corporation_id"]) for r in rows] == [
        (90000001, 98000001),
        (90000003, 98000002),
        (90000011, 98000042),
    ]
    unknown = http.post("/characters/affiliation", json=[95555555]).json()
    assert unknown == http.post("/characters/affiliation", json=[95555555]).json()  # stable
