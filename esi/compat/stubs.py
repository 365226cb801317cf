"""django-esi 10's ``esi.stubs``: the type names apps import under ``TYPE_CHECKING``.

django-esi 10 generated a model type per ESI schema (``CharactersDetail``, ``CorporationID``...).
Today's results are plain JSON (dicts, lists, numbers; see :class:`esi.compat.openapi_clients.EsiObject`),
so every such name is ``Any``: type checkers accept the annotations and nothing is checked.
"""

from __future__ import annotations

from typing import Any


class ESIClientStub:
    """django-esi 10's placeholder for its generated client type."""


def stub_type(name: str) -> Any:
    """Any old generated type name: ``Any``."""
    if name.startswith("__"):
        raise AttributeError(name)
    return Any
