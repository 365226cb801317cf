"""One fetch as a plain function: what ``fetch_endpoint`` does, testable without a worker.

Steps: find the operation in the spec, check the parameters (no I/O), pick the token, call the
shared client (which answers a remembered 403/404 from its cache at once, see
:mod:`esi_tasks.errors_memory`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from esi_tasks.signals import endpoint_fetched
from esi_tasks.tokens import resolve_token

__all__ = ["FetchOutcome", "fetch", "response_meta"]

logger = logging.getLogger(__name__)


@dataclass
class FetchOutcome:
    """The decoded data of one fetch and the facts about the answer (JSON-serialisable meta)."""

    operation: str
    params: dict[str, Any]
    data: Any
    meta: dict[str, Any] = field(default_factory=dict)
    token_id: int | None = None
    expires: dt.datetime | None = None

    def announce(self, sender: type, task_id: str | None) -> None:
        """Send ``endpoint_fetched`` for this outcome (see :mod:`esi_tasks.signals`)."""
        endpoint_fetched.send(
            sender=sender,
            operation=self.operation,
            params=self.params,
            data=self.data,
            meta=self.meta,
            token_id=self.token_id,
            task_id=task_id,
        )


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def response_meta(response: Any) -> dict[str, Any]:
    return {
        "status": response.status,
        "etag": response.etag,
        "expires": _iso(response.expires),
        "last_modified": _iso(response.last_modified),
        "pages": response.pages,
        "from_cache": response.from_cache,
        "not_modified": response.not_modified,
    }


def fetch(
    operation: str,
    *,
    token_id: int | None = None,
    all_pages: bool = False,
    language: str | None = None,
    force_refresh: bool = False,
    params: Mapping[str, Any] | None = None,
    compatibility_date: str | None = None,
) -> FetchOutcome:
    """Fetch ``operation`` once through the client of ``compatibility_date`` (the default client
    without one; a ``compatibility_date`` among ``params`` counts, as ESI's own query parameter
    would); raises ``esi.exceptions`` errors."""
    from esi.client import get_client

    params = dict(params or {})
    compatibility_date = params.pop("compatibility_date", None) or compatibility_date
    client = get_client(compatibility_date)
    op = client.spec.get(operation)  # UnknownOperation names the closest ones
    client.spec.validate(op.id, params)  # InvalidParameter before any token work
    token = resolve_token(op, params, token_id)
    response = client.call(
        op.id, token=token, all_pages=all_pages, language=language, force_refresh=force_refresh, **params
    )
    return FetchOutcome(
        operation=op.id,
        params=params,
        data=response.data,
        meta=response_meta(response),
        token_id=token.pk if token is not None else None,
        expires=response.expires,
    )
