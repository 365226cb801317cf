"""A wrong parameter name: mypy must reject it."""

from esi.client import get_client

get_client().Market.GetMarketsRegionIdOrders(region=10000002).result()
