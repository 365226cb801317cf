"""django-esi 10's ``esi.stubs`` (type names for ``TYPE_CHECKING`` imports): every name is ``Any``.
See :mod:`esi.compat.stubs`."""

from typing import Any

from esi.compat.stubs import ESIClientStub, stub_type

__all__ = ["ESIClientStub"]


def __getattr__(name: str) -> Any:
    return stub_type(name)
