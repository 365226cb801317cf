"""The ESI client: spec-driven operations over one pooled httpx client per process.

::

    from esi.client import get_client
    client = get_client()
    client.call("GetStatus").data
    client.call("GetCharactersCharacterIdAssets", character_id=1, token=token, all_pages=True)
    client.Assets.GetCharactersCharacterIdAssets(character_id=1, token=token).results()

See ``docs/calling-esi.md``.
"""

from esi.client._cache import CacheEntry, ResponseCache
from esi.client._client import EsiClient, get_client, reset_client
from esi.client._operations import TokenContext
from esi.client._response import EsiResponse
from esi.client._retry import RetryPolicy, is_retry_safe
from esi.client._spec import Operation, Parameter, RequestBody, SpecIndex, get_spec
from esi.client._transport import Transport, map_exception
from esi.client.limits import Limiter, RateLimitGroup, Reservation

__all__ = [
    "CacheEntry",
    "EsiClient",
    "EsiResponse",
    "Limiter",
    "Operation",
    "Parameter",
    "RateLimitGroup",
    "RequestBody",
    "Reservation",
    "ResponseCache",
    "RetryPolicy",
    "SpecIndex",
    "TokenContext",
    "Transport",
    "get_client",
    "get_spec",
    "is_retry_safe",
    "map_exception",
    "reset_client",
]
