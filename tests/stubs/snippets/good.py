"""Correct calls: mypy accepts them, and the results are typed from the response schemas."""

from typing import assert_type

from esi.client import get_client

client = get_client()
orders = client.Market.GetMarketsRegionIdOrders(region_id=10000002, order_type="sell", type_id=34).results()
for order in orders:
    assert_type(order["price"], float)
    assert_type(order["is_buy_order"], bool)
status = client.Status.GetStatus().result()
assert_type(status["players"], int)
assets = client.Assets.get_characters_character_id_assets(character_id=1, token="abc", page=2).result()
assert_type(assets[0]["item_id"], int)
names = client.Universe.PostUniverseNames(body=[34, 35]).result()
ids = client.Universe.PostUniverseIds(body=["Jita"], language="de").response().data
