"""A call checked once and ready to send: :class:`PreparedCall`.

``EsiClient.prepare()`` resolves the operation in the spec, validates the parameters, builds
the token context and the cache key, and fixes the path, query and headers of the request. It
does that once; sending (``EsiClient.send``), the pagination loops and the task layer all work
from the same object. A page of a crawl is the prepared call with another ``page`` value
(:meth:`PreparedCall.page`): nothing is resolved or validated again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote

from esi.client._cache import cache_key
from esi.client._operations import TokenContext
from esi.client._spec import Operation

__all__ = ["PreparedCall", "build"]


@dataclass(frozen=True, slots=True)
class PreparedCall:
    """One validated request of ``operation``, for ``token``; see the module's doc.

    ``key`` is the response cache's key for this request (operation, values, language,
    compatibility date and, for secured operations, the character): equal for calls that would
    send the same request, which also makes it the identity de-duplication uses. ``cacheable``
    says whether the answer may be read from and stored in the cache (a GET, the cache on, and
    a token whose character is known). The access token itself is fetched only when sending.
    """

    operation: Operation
    values: Mapping[str, Any]
    token: TokenContext
    key: str
    cacheable: bool
    language: str | None = None
    force_refresh: bool = False
    date: str = ""
    path: str = ""
    query: Mapping[str, Any] = field(default_factory=dict, repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        return f"<PreparedCall {self.operation.method.upper()} {self.path} ({self.operation.id})>"

    @property
    def identity(self) -> str:
        """The limiter's bucket identity: the character for secured operations, else ``app``."""
        return self.token.identity if self.operation.scopes else "app"

    @property
    def body(self) -> Any:
        return self.values.get("body")

    def page(self, n: int) -> PreparedCall:
        """This call for page ``n`` of an ``X-Pages`` operation (page 1 is the call without ``page``)."""
        values = {k: v for k, v in self.values.items() if k != "page"}
        if n != 1:
            values["page"] = n
        return self.with_values(values)

    def with_values(self, values: Mapping[str, Any]) -> PreparedCall:
        """This call with ``values`` (already valid: the pagination loops change only the cursor)."""
        key, path, query = _derived(self.operation, values, self.token, self.language, self.date)
        return replace(self, values=values, key=key, path=path, query=query)

    def resolved(self) -> PreparedCall:
        """This call with the access token fetched now (once, before a crawl's threads use it)."""
        token = self.token.resolved()
        return self if token is self.token else replace(self, token=token)

    def refreshed(self) -> PreparedCall:
        """This call asking ESI again even if the cache holds a fresh answer (a crawl restart)."""
        return self if self.force_refresh else replace(self, force_refresh=True)


def _derived(
    op: Operation, values: Mapping[str, Any], token: TokenContext, language: str | None, date: str
) -> tuple[str, str, dict[str, Any]]:
    """The cache key, the quoted path and the query of ``values``."""
    path = op.path
    for name in op.path_params:
        path = path.replace("{" + name + "}", quote(str(values[name]), safe=""))
    params = op.parameters
    query = {k: v for k, v in values.items() if k != "body" and params[k].location == "query"}
    character = token.character_id if op.scopes else None
    return cache_key(op.id, values, language or "en", date, character), path, query


def build(
    op: Operation,
    values: Mapping[str, Any],
    token: TokenContext,
    *,
    language: str | None,
    date: str,
    cache_enabled: bool,
    force_refresh: bool = False,
    user_agent: str | None = None,
) -> PreparedCall:
    """The :class:`PreparedCall` of already validated ``values`` (no I/O)."""
    headers = {"X-Compatibility-Date": date}  # the pool sends User-Agent and Accept itself
    if user_agent:
        headers["User-Agent"] = user_agent
    if language:
        headers["Accept-Language"] = language
    key, path, query = _derived(op, values, token, language, date)
    return PreparedCall(
        operation=op,
        values=values,
        token=token,
        key=key,
        cacheable=cache_enabled and op.method == "get" and (not op.scopes or token.cacheable),
        language=language,
        force_refresh=force_refresh,
        date=date,
        path=path,
        query=query,
        headers=headers,
    )
