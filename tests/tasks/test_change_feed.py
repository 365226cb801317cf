"""The change feed: ``endpoint_changed`` only when a resource's data really changed, with a diff.

Real worker, real Redis, the simulator over HTTP; the simulator's ``body`` option serves a list
the test controls, so a change is exactly the one the test makes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from esi.client import get_client
from esi.redis_pool import reset_redis
from esi_tasks import changes, fetching, keep_fresh
from esi_tasks.models import EndpointSchedule
from esi_tasks.signals import endpoint_changed, endpoint_fetched
from esi_tasks.tasks import fetch_endpoint, run_schedule
from tests.tasks.conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]

OP = "GetMarketsRegionIdOrders"
REGION = 10000002


def _order(order_id: int, price: float = 5.0, type_id: int = 34) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "type_id": type_id,
        "location_id": 60003760,
        "system_id": 30000142,
        "volume_total": 100,
        "volume_remain": 100,
        "min_volume": 1,
        "price": price,
        "is_buy_order": False,
        "duration": 90,
        "issued": "2026-01-01T00:00:00Z",
        "range": "region",
    }


@pytest.fixture
def changed() -> Iterator[list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []

    def on_changed(sender: Any, **kwargs: Any) -> None:
        seen.append(kwargs)

    endpoint_changed.connect(on_changed, weak=False)
    try:
        yield seen
    finally:
        endpoint_changed.disconnect(on_changed)


def _cache_key(**params: Any) -> str:
    return fetching.prepare(OP, params={"region_id": REGION, **params}).call.key


def _fetch(**options: Any) -> Any:
    return fetch_endpoint.apply_async((OP,), {"region_id": REGION, **options}, dedup=False).get(timeout=20)


def _statuses(esi_sim: Any) -> dict[str, int]:
    return esi_sim.stats()["by_route"].get(OP, {})


# --- the id field and the diff ----------------------------------------------------------------


def test_the_id_field_of_a_list_comes_from_the_spec_item_schema() -> None:
    spec = get_client().spec
    expected = {
        "GetMarketsRegionIdOrders": "order_id",
        "GetMarketsStructuresStructureId": "order_id",
        "GetCharactersCharacterIdAssets": "item_id",
        "GetCharactersCharacterIdBlueprints": "item_id",
        "GetCharactersCharacterIdContacts": "contact_id",
        "GetCharactersCharacterIdIndustryJobs": "job_id",
        "GetCharactersCharacterIdWalletJournal": "id",
        "GetCorporationsCorporationIdStructures": "structure_id",
        "GetCharactersCharacterIdMining": None,  # (date, system, type): no single id
        "GetStatus": None,  # not a list
        "GetUniverseTypes": None,  # a list of integers
    }
    assert {name: changes.id_field(spec, spec.get(name)) for name in expected} == expected


def test_a_diff_is_keyed_by_the_id_field() -> None:
    before = [_order(1), _order(2), _order(3)]
    after = [_order(4), _order(2, price=6.0), _order(1)]
    found = changes.diff(before, after, "order_id")
    assert found is not None and found.id_field == "order_id"
    assert found.added == [_order(4)]
    assert found.removed == [_order(3)]
    assert found.changed == [(_order(2), _order(2, price=6.0))]
    assert not changes.diff(before, list(reversed(before)), "order_id")  # another order: no change
    assert changes.diff(before, [_order(1), _order(1)], "order_id") is None  # a repeated id is no id
    assert changes.diff({"a": 1}, after, "order_id") is None
    assert changes.diff(before, [{"type_id": 1}], "order_id") is None


def test_a_wrong_diff_setting_is_a_system_check_warning(settings) -> None:
    settings.ESI_CHANGE_DIFFS = ["GetMarketsRegionIdOrderz", "GetStatus", OP, {"x": 1}]
    ids = [m.id for m in changes.check_change_diffs()]
    assert ids == ["esi_tasks.W010", "esi_tasks.W011", "esi_tasks.W010"]
    settings.ESI_CHANGE_DIFFS = {"GetCharactersCharacterIdMining": "type_id", OP: None}
    assert changes.check_change_diffs() == []


# --- through fetch_endpoint in a worker ---------------------------------------------------------


def test_no_signal_on_a_304_or_an_equal_body_and_a_diff_when_the_list_changed(
    threads_worker, esi_sim, changed, settings, redis_client
) -> None:
    settings.ESI_CHANGE_DIFFS = [OP]
    esi_sim.configure_route(OP, body=[_order(1), _order(2), _order(3)], cache_seconds=300)
    assert len(_fetch()) == 3
    assert len(changed) == 1 and changed[0]["first_seen"] is True and changed[0]["diff"] is None
    first_etag = changed[0]["meta"]["etag"]

    assert len(_fetch(force_refresh=True)) == 3  # revalidated: a 304
    redis_client.delete(_cache_key())  # the cached copy is gone: a 200 of the same body
    assert len(_fetch()) == 3
    assert _statuses(esi_sim) == {"200": 2, "304": 1}
    assert len(changed) == 1

    esi_sim.configure_route(OP, body=[_order(4), _order(2, price=6.0), _order(1)])
    _fetch(force_refresh=True)
    assert len(changed) == 2
    news = changed[1]
    assert news["operation"] == OP and news["params"] == {"region_id": REGION}
    assert news["first_seen"] is False and news["previous_etag"] == first_etag != news["meta"]["etag"]
    assert news["previous_last_modified"] == changed[0]["meta"]["last_modified"]
    diff = news["diff"]
    assert diff.added == [_order(4)] and diff.removed == [_order(3)]
    assert diff.changed == [(_order(2), _order(2, price=6.0))]

    esi_sim.configure_route(OP, body=[_order(1), _order(4), _order(2, price=6.0)])  # the same orders
    _fetch(force_refresh=True)
    assert _statuses(esi_sim) == {"200": 4, "304": 1}
    assert len(changed) == 2


def test_without_a_diff_only_a_hash_is_kept_for_the_resources_lifetime(
    threads_worker, esi_sim, changed, settings, redis_client
) -> None:
    settings.ESI_CHANGE_STATE_KEEP = 60
    esi_sim.configure_route(OP, body=[_order(1)], cache_seconds=300)
    _fetch(all_pages=True)
    esi_sim.configure_route(OP, body=[_order(1, price=7.0)])
    _fetch(all_pages=True, force_refresh=True)
    _fetch(all_pages=True, force_refresh=True)  # a 304
    redis_client.delete(_cache_key())
    _fetch(all_pages=True)  # a 200 of the same body
    assert _statuses(esi_sim) == {"200": 3, "304": 1}
    assert [c["first_seen"] for c in changed] == [True, False]
    assert [c["diff"] for c in changed] == [None, None]  # not asked for
    hash_key, body_key = changes.state_keys(_cache_key() + ":all")  # joined pages: their own resource
    # the copy's lifetime (Expires - Date: ~300 s, in whole seconds of two clocks), plus ESI_CHANGE_STATE_KEEP
    assert 290 + 60 < redis_client.ttl(hash_key) <= 305 + 60
    assert not redis_client.exists(body_key)
    assert len(redis_client.keys("esi_tasks:changes:*")) == 1


def test_nothing_is_kept_while_nobody_listens(threads_worker, esi_sim, redis_client) -> None:
    esi_sim.configure_route(OP, body=[_order(1)])
    _fetch()
    assert redis_client.keys("esi_tasks:changes:*") == []


# --- keep-fresh chains and schedules ------------------------------------------------------------


def test_a_keep_fresh_chain_sends_only_changes(threads_worker, esi_sim, changed, settings) -> None:
    settings.ESI_CHANGE_DIFFS = [OP]
    esi_sim.configure_route(OP, body=[_order(1), _order(2)], cache_seconds=2)
    keep_fresh.start(OP, region_id=REGION)
    try:
        wait_for(lambda: changed, timeout=20)
        esi_sim.configure_route(OP, body=[_order(2), _order(3)])
        wait_for(lambda: len(changed) == 2, timeout=20)
        requests = sum(_statuses(esi_sim).values())
        wait_for(lambda: _statuses(esi_sim).get("304", 0) >= 2, timeout=20)  # unchanged runs
    finally:
        keep_fresh.cancel(OP, region_id=REGION)
    assert sum(_statuses(esi_sim).values()) > requests
    assert len(changed) == 2
    assert changed[0]["first_seen"] and changed[0]["diff"] is None
    diff = changed[1]["diff"]
    assert diff.added == [_order(3)] and diff.removed == [_order(1)] and diff.changed == []


def test_a_schedule_sends_only_changes(threads_worker, esi_sim, changed, settings, redis_client) -> None:
    settings.ESI_CHANGE_DIFFS = {OP: "order_id"}
    esi_sim.configure_route(OP, body=[_order(1)], cache_seconds=300)
    schedule = EndpointSchedule.objects.create(
        name="orders", operation=OP, params={"region_id": REGION}, all_pages=True, every_minutes=5
    )

    def run() -> None:
        redis_client.delete(_cache_key())  # as if the cached copy expired since the last run
        assert run_schedule.delay(schedule.pk).get(timeout=20)["status"] == "ok"

    run()
    run()  # the same body
    esi_sim.configure_route(OP, body=[_order(1, type_id=35)])
    run()
    assert _statuses(esi_sim) == {"200": 3}
    assert [c["first_seen"] for c in changed] == [True, False]
    assert changed[1]["diff"].changed == [(_order(1), _order(1, type_id=35))]


def test_a_streamed_crawl_is_compared_as_a_whole_without_a_diff(
    threads_worker, esi_sim, changed, settings, redis_client
) -> None:
    """``on_page`` crawls: the pages' hashes (not the pages) make the crawl's; the signal carries the
    summary, never a diff, even for an ESI_CHANGE_DIFFS operation; joined pages are another resource."""
    settings.ESI_CHANGE_DIFFS = [OP]
    esi_sim.configure_route(OP, body=[_order(1), _order(2)], pages=3, cache_seconds=300)

    def stream(**options: Any) -> Any:
        kwargs = {"region_id": REGION, "on_page": "tests.collect_page", **options}
        return fetch_endpoint.apply_async((OP,), kwargs, dedup=False).get(timeout=30)

    assert stream()["rows"] == 6
    assert len(changed) == 1 and changed[0]["first_seen"] is True and changed[0]["diff"] is None
    assert changed[0]["data"]["pages"] == 3 and changed[0]["data"]["rows"] == 6  # the summary
    first_etag = changed[0]["meta"]["etag"]

    stream(force_refresh=True)  # every page revalidated: 304s
    redis_client.delete(*(_cache_key(page=n) for n in (1, 2, 3)), _cache_key())  # evicted: 200s of the same pages
    stream()
    assert _statuses(esi_sim) == {"200": 6, "304": 3}
    assert len(changed) == 1

    esi_sim.configure_route(OP, body=[_order(1), _order(3)])
    stream(force_refresh=True)
    assert len(changed) == 2
    news = changed[1]
    assert news["first_seen"] is False and news["previous_etag"] == first_etag != news["meta"]["etag"]
    assert news["diff"] is None and news["data"]["rows"] == 6
    hash_key, body_key = changes.state_keys(_cache_key() + ":stream")
    assert redis_client.exists(hash_key) and not redis_client.exists(body_key)  # no page is kept

    assert len(_fetch(all_pages=True)) == 6  # the same crawl joined: its own resource, with its own state
    assert len(changed) == 3 and changed[2]["first_seen"] is True
    assert len(redis_client.lrange("tests:pages", 0, -1)) == 4 * 3  # every streamed page reached the callback


def test_a_redis_that_does_not_answer_skips_the_feed_not_the_fetch(esi_sim, changed, settings, caplog) -> None:
    esi_sim.configure_route(OP, body=[_order(1)])
    outcome = fetching.fetch(OP, params={"region_id": REGION})  # fetched while Redis answers
    fetched: list[Any] = []
    endpoint_fetched.connect(lambda sender, **kw: fetched.append(kw), weak=False, dispatch_uid="feed-test")
    try:
        settings.ESI_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
        reset_redis()
        outcome.announce(fetch_endpoint.__class__, "task-1")
    finally:
        endpoint_fetched.disconnect(dispatch_uid="feed-test")
    assert len(fetched) == 1 and changed == []
    assert "Change feed of GetMarketsRegionIdOrders skipped: Redis did not answer" in caplog.text


def test_a_corporations_data_is_one_resource_whichever_member_reads_it(
    threads_worker, esi_sim, changed, make_token
) -> None:
    """A token pool hands corporation routes to its members in turn: that is no change."""
    journal, corp, scope = (
        "GetCorporationsCorporationIdWalletsDivisionJournal",
        98000010,
        "esi-wallet.read_corporation_wallets.v1",
    )
    tokens = []
    for character_id in (90000021, 90000022):
        esi_sim.add_character(character_id, corporation_id=corp)
        tokens.append(make_token(character_id, [scope]))
    for token in tokens:
        kwargs = {"corporation_id": corp, "division": 1, "token_id": token.pk}
        fetch_endpoint.apply_async((journal,), kwargs, dedup=False).get(timeout=20)
    assert [e["character_id"] for e in esi_sim.request_log(journal)] == [90000021, 90000022]  # two 200s
    assert [c["token_id"] for c in changed] == [tokens[0].pk]  # the second member's equal body: no news
