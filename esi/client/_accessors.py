"""django-esi style access: ``client.Assets.GetCharactersCharacterIdAssets(**params).result()``.

``client.<Tag>`` is a :class:`Tag` (the spec's tag, spaces dropped); ``<Tag>.<operationId>``
(or its snake_case alias) takes the parameters and returns a :class:`PendingCall`, whose
``result()`` is the decoded body of one page and ``results()`` of every page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from esi.client._response import EsiResponse
from esi.client._spec import Operation
from esi.exceptions import UnknownOperation

if TYPE_CHECKING:
    from esi.client._client import EsiClient

__all__ = ["PendingCall", "Tag"]


class PendingCall:
    """``client.Tag.Operation(**params)``: call ``.result()`` (one page) or ``.results()`` (all)."""

    def __init__(self, client: EsiClient, op: Operation, params: dict[str, Any]) -> None:
        self._client, self._op, self._params = client, op, params

    def __repr__(self) -> str:
        return f"<{self._op.id}({', '.join(k for k in self._params if k != 'token')})>"

    def response(self, **kwargs: Any) -> EsiResponse:
        return self._client.call(self._op.id, **{**self._params, **kwargs})

    def result(self, **kwargs: Any) -> Any:
        """The decoded body (one page)."""
        return self.response(**kwargs).data

    def results(self, **kwargs: Any) -> Any:
        """The decoded body of every page, joined."""
        return self.response(all_pages=True, **kwargs).data


class Tag:
    """The operations of one spec tag, as attributes."""

    def __init__(self, client: EsiClient, name: str, operation_ids: list[str]) -> None:
        self._client, self._name, self._ids = client, name, operation_ids

    def __repr__(self) -> str:
        return f"<ESI tag {self._name}: {len(self._ids)} operations>"

    def __dir__(self) -> list[str]:
        return sorted(self._ids)

    def __getattr__(self, name: str) -> Callable[..., PendingCall]:
        if name.startswith("_"):
            raise AttributeError(name)
        op_id = self._client.spec.resolve(name)
        if op_id is None:
            raise self._client.spec.unknown(name, f"{self._name}.{name}")
        if op_id not in self._ids:
            raise UnknownOperation(f"{self._name}.{name}", self._client.spec.suggestions(name))
        op = self._client.spec.get(op_id)

        def pending(**params: Any) -> PendingCall:
            return PendingCall(self._client, op, params)

        pending.__name__ = op.id
        pending.__doc__ = op.summary
        return pending
