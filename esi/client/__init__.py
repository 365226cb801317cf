"""The ESI client: spec-driven operations over one pooled httpx client per process.

::

    from esi.client import get_client
    client = get_client()
    client.call("GetStatus").data
    client.call("GetCharactersCharacterIdAssets", character_id=1, token=token, all_pages=True)
    for page in client.iter_pages("GetMarketsRegionIdOrders", region_id=10000002):
        handle(page.data)
    client.Assets.GetCharactersCharacterIdAssets(character_id=1, token=token).results()

What is exported here is what users call (and what they pass to ``EsiClient``); the machinery
(cache entries, the HTTP pool, token contexts, reservations) stays in the private modules.
See ``docs/calling-esi.md``.
"""

from esi.client._client import EsiClient, get_client, reset_client
from esi.client._prepared import PreparedCall
from esi.client._response import EsiResponse
from esi.client._retry import RetryPolicy, is_retry_safe
from esi.client._spec import Operation, Parameter, RequestBody, SpecIndex
from esi.client._views import get_spec
from esi.client.limits import Limiter, RateLimitGroup

__all__ = [
    "EsiClient",
    "EsiResponse",
    "Limiter",
    "Operation",
    "Parameter",
    "PreparedCall",
    "RateLimitGroup",
    "RequestBody",
    "RetryPolicy",
    "SpecIndex",
    "get_client",
    "get_spec",
    "is_retry_safe",
    "reset_client",
]
