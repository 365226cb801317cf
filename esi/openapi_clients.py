"""django-esi 10's ``esi.openapi_clients``: ``ESIClientProvider`` and friends still import (with a
one-time ``DeprecationWarning``); they live in :mod:`esi.compat.openapi_clients`."""

from esi.compat._deprecation import legacy_getattr

_NEW = "esi.client.get_client(compatibility_date=...)"

__all__ = ["ESIClient", "ESIClientProvider", "ESITag", "EsiObject", "EsiOperation", "LegacyResponse"]  # noqa: F822 (served by __getattr__)

__getattr__ = legacy_getattr(
    "esi.openapi_clients",
    {name: ("esi.compat.openapi_clients", _NEW) for name in __all__},
)
