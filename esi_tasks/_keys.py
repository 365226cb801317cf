"""Stable Redis keys for "the same fetch": operation + parameters + identity."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from esi._dates import default_date
from esi.client import get_client

PREFIX = "esi_tasks"


def canonical_operation(operation: str, compatibility_date: str | None = None) -> str:
    """The operationId for ``operation`` in the view of ``compatibility_date`` (snake_case and other
    views' names resolved); the name itself if unknown."""
    try:
        return get_client(compatibility_date).spec.get(operation).id
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
    compatibility_date: str | None = None,
) -> str:
    """The identity of one fetch: equal for calls that would send the same request (same date too:
    given as an option or among the parameters, and none meaning the default client's)."""
    params = dict(params)
    compatibility_date = params.pop("compatibility_date", None) or compatibility_date or default_date()
    return digest(
        canonical_operation(operation, compatibility_date),
        params,
        token_id,
        bool(all_pages),
        language,
        force_refresh,
        compatibility_date,
    )


def text(value: bytes | str) -> str:
    """A Redis reply as text (the shared client answers bytes)."""
    return value.decode() if isinstance(value, bytes) else value
