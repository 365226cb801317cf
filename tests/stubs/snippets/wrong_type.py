"""A wrong parameter type (and a wrong enum value): mypy must reject them."""

from esi.client import get_client

get_client().Market.GetMarketsRegionIdOrders(region_id="The Forge", order_type="both").result()
