"""A client per compatibility date: its own view, its own date on every request, one process."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import redis as redis_lib

from esi._dates import newest_date
from esi.client import get_client, reset_client
from esi.client._views import cached_dates, clear_views, get_view
from esi.exceptions import InvalidParameter, OperationNotInView
from esi.openapi_clients import ESIClientProvider
from tests.client.conftest import LogRecords

PILOT = 90000001
OFFLINE = "http://127.0.0.1:9/"  # nothing listens on the discard port: connection refused


@pytest.fixture(autouse=True)
def _fresh_views(redis_client: redis_lib.Redis) -> Iterator[None]:
    """Every test starts with no view loaded in this process and none in the shared store."""
    reset_client()
    clear_views()
    yield
    reset_client()
    clear_views()


def _sent_dates(esi_sim: Any, operation: str) -> list[str]:
    return [e["headers"]["x-compatibility-date"] for e in esi_sim.request_log(operation)]


def test_two_dates_in_one_process_each_request_carries_its_clients_date(esi_sim: Any) -> None:
    old, new = get_client("2020-01-01"), get_client(dt.date(2026, 8, 4))
    assert old is get_client(dt.date(2020, 1, 1)) and new is get_client("2026-08-04") and old is not new
    assert old.spec is get_view("2020-01-01") and new.spec is get_view("2026-08-04")

    assert old.call("GetSovereigntyMap").status == 200
    pilot = old.call("GetCharactersCharacterId", character_id=PILOT)
    assert pilot.operation == "GetCharactersCharacterId" and pilot.data["name"] == "Harness Pilot One"
    detail = new.call("GetCharactersDetail", character_id=PILOT)
    assert detail.operation == "GetCharactersDetail" and detail.data["name"] == "Harness Pilot One"

    assert _sent_dates(esi_sim, "GetSovereigntyMap") == ["2020-01-01"]
    assert _sent_dates(esi_sim, "GetCharactersCharacterId") == ["2020-01-01"]
    assert _sent_dates(esi_sim, "GetCharactersDetail") == ["2026-08-04"]
    assert len(old.spec) == 197 and len(new.spec) == 225  # neither view touched the other


def test_a_name_from_another_view_resolves_to_the_same_route_logged_once(esi_sim: Any, esi_logs: LogRecords) -> None:
    new = get_client("2026-08-04")
    for _ in range(3):
        r = new.call("GetCharactersCharacterId", character_id=PILOT)
        assert r.operation == "GetCharactersDetail"
    assert new.call("get_characters_character_id", character_id=PILOT).operation == "GetCharactersDetail"
    assert new.Character.GetCharactersCharacterId(character_id=PILOT).result()["name"] == "Harness Pilot One"
    notes = [r for r in esi_logs.records if r.getMessage().startswith("GetCharactersCharacterId is named")]
    assert [(r.levelno, r.getMessage()) for r in notes] == [
        (
            logging.INFO,
            "GetCharactersCharacterId is named GetCharactersDetail in the ESI view of 2026-08-04 "
            "(GET /characters/{character_id}); calling it by that name.",
        )
    ]
    assert _sent_dates(esi_sim, "GetCharactersDetail") == ["2026-08-04"]  # then served from the cache


def test_a_route_absent_from_the_view_names_the_dates_that_have_it(esi_sim: Any) -> None:
    new = get_client("2026-08-04")
    with pytest.raises(OperationNotInView) as info:
        new.call("GetSovereigntyMap")
    assert info.value.dates == ["2020-01-01"] and info.value.view_date == "2026-08-04"
    assert "views of 2020-01-01" in str(info.value) and "get_client(compatibility_date='2020-01-01')" in str(info.value)
    assert "GetSovereignty" in ", ".join(info.value.suggestions)
    with pytest.raises(OperationNotInView, match=r"Sovereignty\.GetSovereigntyStructures"):
        new.Sovereignty.GetSovereigntyStructures()
    with pytest.raises(OperationNotInView, match="views of 2026-08-04"):
        get_client("2020-01-01").call("GetFreelanceJobsListing")
    assert esi_sim.stats()["total"] == 0  # refused before any request


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("26/08/2025", r"compatibility_date '26/08/2025' is not a date"),
        ("2026-13-01", r"'2026-13-01' is not a date"),
        ("2026-5-19", r"'2026-5-19' is not a date"),
        ("2019-12-31", r"2019-12-31 is before 2020-01-01, ESI's oldest"),
        (dt.date(2999, 1, 1), r"2999-01-01 is in the future"),
        (20260519, r"must be 'YYYY-MM-DD' or a datetime.date, not int"),
    ],
)
def test_bad_dates_are_refused_naming_the_valid_ones(value: Any, match: str) -> None:
    valid = f"valid dates are 2020-01-01 to {newest_date()}"
    for make in (lambda: get_client(value), lambda: ESIClientProvider(value, "app", "1")):
        with pytest.raises(InvalidParameter, match=match) as info:
            make()
        assert valid in str(info.value) and "bundled views are 2020-01-01, 2026-08-04" in str(info.value)
        assert info.value.parameter == "compatibility_date"


def test_esi_date_rolls_at_eleven_utc() -> None:
    before = dt.datetime(2026, 12, 3, 10, 59, tzinfo=dt.UTC)
    after = dt.datetime(2026, 12, 3, 11, 0, tzinfo=dt.UTC)
    assert newest_date(lambda: before) == "2026-12-02" and newest_date(lambda: after) == "2026-12-03"


def test_a_served_view_is_fetched_once_and_shared_through_redis(esi_sim: Any, redis_client: redis_lib.Redis) -> None:
    view = get_client("2026-05-19").spec
    assert view.source == "ESI's view of 2026-05-19" and view.date == "2026-05-19"
    assert _sent_dates(esi_sim, "GetMetaOpenapi") == ["2026-05-19"]
    assert cached_dates() == ["2026-05-19"]
    clear_views()  # as a new worker process would start
    again = get_view("2026-05-19")
    assert again is not view and again.source == "the stored ESI view of 2026-05-19" and len(again) == len(view)
    assert len(esi_sim.request_log("GetMetaOpenapi")) == 1  # not asked again


def test_a_folder_can_hold_the_shared_views(esi_sim: Any, settings: Any, tmp_path: Any) -> None:
    settings.ESI_SPEC_CACHE_DIR = str(tmp_path / "views")
    get_view("2025-08-26")
    assert (tmp_path / "views" / "openapi-2025-08-26.json").is_file()
    assert cached_dates() == ["2025-08-26"]
    clear_views()
    assert get_view("2025-08-26").source == "the stored ESI view of 2025-08-26"
    assert len(esi_sim.request_log("GetMetaOpenapi")) == 1


def test_offline_uses_the_newest_bundled_view_not_after_the_date_with_one_warning(
    settings: Any, esi_logs: LogRecords
) -> None:
    settings.ESI_API_URL = OFFLINE
    for _ in range(2):
        view = get_client("2026-05-19").spec
        assert view.date == "2020-01-01" and "GetCharactersCharacterId" in view
    assert get_view("2026-08-05").date == "2026-08-04"
    warnings = [r.getMessage() for r in esi_logs.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert warnings[0].startswith("ESI's view of 2026-05-19 could not be fetched (could not fetch")
    assert "using the bundled view of 2020-01-01 instead" in warnings[0]
    assert "ESI's view of 2026-08-05" in warnings[1] and "bundled view of 2026-08-04" in warnings[1]


def _alliance_auth_call() -> Any:
    """The call Alliance Auth 5.5 makes."""
    provider = ESIClientProvider(
        compatibility_date="2026-05-19", ua_appname="x", ua_version="1", operations=["GetCharactersCharacterId"]
    )
    return provider.client.Character.GetCharactersCharacterId(character_id=PILOT).result()


def test_alliance_auth_provider_call_when_esi_refuses_the_view(esi_sim: Any, esi_logs: LogRecords) -> None:
    esi_sim.configure_route("GetMetaOpenapi", status=503)
    assert _alliance_auth_call()["name"] == "Harness Pilot One"
    assert _sent_dates(esi_sim, "GetCharactersCharacterId") == ["2026-05-19"]
    warnings = [r.getMessage() for r in esi_logs.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "2026-05-19" in warnings[0] and "bundled view of 2020-01-01" in warnings[0]


def test_alliance_auth_provider_call_from_the_served_view(esi_sim: Any, esi_logs: LogRecords) -> None:
    assert _alliance_auth_call()["name"] == "Harness Pilot One"
    assert get_client("2026-05-19").spec.source == "ESI's view of 2026-05-19"
    assert _sent_dates(esi_sim, "GetMetaOpenapi") == ["2026-05-19"]
    assert _sent_dates(esi_sim, "GetCharactersCharacterId") == ["2026-05-19"]
    assert not [r for r in esi_logs.records if r.levelno >= logging.WARNING]


def test_a_response_cached_for_one_date_is_not_served_to_another(esi_sim: Any) -> None:
    old, new = get_client("2020-01-01"), get_client("2026-08-04")
    assert not old.call("GetStatus").from_cache
    assert not new.call("GetStatus").from_cache  # its own request, with its own date
    assert old.call("GetStatus").from_cache and new.call("GetStatus").from_cache
    assert _sent_dates(esi_sim, "GetStatus") == ["2020-01-01", "2026-08-04"]


def test_the_default_client_follows_the_settings(esi_sim: Any, settings: Any) -> None:
    default = get_client()
    assert default.compatibility_date == "2026-08-04" and default.spec.date == "2026-08-04"
    settings.ESI_COMPATIBILITY_DATE = dt.date(2020, 1, 1)
    assert get_client() is default and default.compatibility_date == "2020-01-01"
    assert default.spec.date == "2020-01-01"


def test_rate_limit_groups_are_the_servers_in_every_view(esi_sim: Any) -> None:
    old, new = get_client("2020-01-01").spec, get_client("2026-08-04").spec
    # the 2020-01-01 document names no group for the market orders route; ESI limits it all the same
    assert "x-rate-limit" not in old.document["paths"]["/markets/{region_id}/orders"]["get"]
    assert old.get("GetMarketsRegionIdOrders").rate_limit == new.get("GetMarketsRegionIdOrders").rate_limit
    assert new.get("GetMarketsRegionIdOrders").rate_limit is not None
    assert old.get("GetSovereigntyMap").rate_limit is not None  # its own document's group
    assert old.get("GetCharactersCharacterId").rate_limit is None  # error-limited in every view


def test_an_unwritable_view_folder_is_a_warning_not_a_failure(
    esi_sim: Any, settings: Any, tmp_path: Any, esi_logs: LogRecords
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    settings.ESI_SPEC_CACHE_DIR = str(blocker)
    assert get_view("2025-08-26").source == "ESI's view of 2025-08-26"  # used, just not shared
    read, write = [r.getMessage() for r in esi_logs.records if r.levelno == logging.WARNING]
    assert read.startswith("Cannot read the stored ESI view of 2025-08-26 in ESI_SPEC_CACHE_DIR")
    assert "is used but not shared" in write and "ESI_SPEC_CACHE_DIR" in write


def test_a_provider_of_a_newer_date_calls_the_old_name_by_its_new_one(esi_sim: Any) -> None:
    provider = ESIClientProvider("2026-08-04", "x", "1", operations=["GetCharactersCharacterId"])
    data = provider.client.Character.GetCharactersCharacterId(character_id=PILOT).result()
    assert data["name"] == "Harness Pilot One"
    assert _sent_dates(esi_sim, "GetCharactersDetail") == ["2026-08-04"]
    with pytest.raises(OperationNotInView, match="views of 2020-01-01"):
        ESIClientProvider("2026-08-04", "x", "1", operations=["GetSovereigntyMap"]).client
