"""Answers read as django-esi 10's models: an optional field ESI left out reads as None."""

from __future__ import annotations

import datetime as dt
import pickle

import pytest

from esi.openapi_clients import ESIClientProvider, EsiObject

pytestmark = pytest.mark.usefixtures("redis_client")


def test_a_declared_field_esi_left_out_is_none_an_unknown_one_an_attribute_error(esi_sim) -> None:
    status = ESIClientProvider("2025-08-26", "compat-tests", "1.0").client.Status.GetStatus().result()

    assert "vip" not in status and status.vip is None  # optional in GetStatus's schema
    assert status.players > 0
    assert isinstance(status.start_time, dt.datetime) and status.start_time.tzinfo is not None
    with pytest.raises(AttributeError, match="no field 'playres'"):
        status.playres


def test_nested_objects_and_lists_know_their_fields(esi_sim) -> None:
    provider = ESIClientProvider("2025-08-26", "compat-tests", "1.0")
    orders = provider.client.Market.GetMarketsRegionIdOrders(region_id=10000002).results()

    assert orders and all(isinstance(order, EsiObject) and order.order_id for order in orders)
    assert pickle.loads(pickle.dumps(orders[0])) == orders[0]
    copy = pickle.loads(pickle.dumps(EsiObject({"a": 1}.items(), ["a", "b"])))
    assert copy.b is None and copy.a == 1
