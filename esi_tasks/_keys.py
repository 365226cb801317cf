"""Stable Redis keys for "the same fetch": operation + parameters + identity."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

PREFIX = "esi_tasks"


def canonical_operation(operation: str) -> str:
    """The operationId for ``operation`` (snake_case aliases resolved); the name itself if unknown."""
    try:
        from esi.client import get_client

        return get_client().spec.get(operation).id
    except Exception:  # unknown operation or spec not loadable: the task reports it later
        return operation


def digest(*parts: Any) -> str:
    """A short, stable hash of JSON-serialisable ``parts`` (dict keys sorted)."""
    raw = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def fetch_identity(
    operation: str,
    params: Mapping[str, Any],
    *,
    token_id: int | None = None,
    all_pages: bool = False,
    language: str | None = None,
    force_refresh: bool = False,
) -> str:
    """The identity of one fetch: equal for calls that would send the same request."""
    return digest(canonical_operation(operation), dict(params), token_id, bool(all_pages), language, force_refresh)


def text(value: bytes | str) -> str:
    """A Redis reply as text (the shared client answers bytes)."""
    return value.decode() if isinstance(value, bytes) else value
