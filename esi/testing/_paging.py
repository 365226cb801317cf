"""Bodies of walked operations: cursor (``before``/``after``) and ``from_id``/``last_mail_id``.

Both serve a history of ``pages * 10`` records (``items`` per step for ``from_id``), stable per
record, where each ``body_version`` step adds 5 newer records, so a client can walk back to the
start and poll forward for new ones. A returned ``str`` is a 400 message for the caller.
"""

from __future__ import annotations

from typing import Any

from esi.testing._bodies import BodyCache, cursor_decode, cursor_encode, generate, generate_record, records_key
from esi.testing._faults import RouteConfig
from esi.testing._routes import Route

__all__ = ["cursor_body", "from_id_body"]

_ID_FIELDS = {"from_id": "transaction_id", "last_mail_id": "mail_id"}


def cursor_body(
    bodies: BodyCache, route: Route, config: RouteConfig, seed: dict[str, Any], params: dict[str, Any], version: int
) -> tuple[bytes, str] | str:
    """Cursor routes: records ``[lo, hi)`` of the history, with ``cursor: {before: lo, after: hi}``.

    No cursor (or ``before=0``) gives the newest ``limit`` records; ``before`` walks back until
    the records are empty; ``after`` (``0``: from the start) walks forward and polls for new ones.
    """
    before, after = params.get("before"), params.get("after")
    if before is not None and after is not None:
        return "Parameters 'before' and 'after' are mutually exclusive."
    limit = min(100, max(10, int(params.get("limit") or 10)))
    total = (config.pages or 3) * 10 + 5 * version
    if after is not None:
        start = 0 if after == "0" else cursor_decode(after)
        if start is None:
            return f"Invalid cursor {after!r}."
        start = min(start, total)
        lo, hi = start, min(total, start + limit)
    else:
        end = total if before in (None, "0") else cursor_decode(before)
        if end is None:
            return f"Invalid cursor {before!r}."
        end = min(end, total)
        lo, hi = max(0, end - limit), end
    key = (route.operation, route.compatibility_date, tuple(sorted(seed.items())), version, "cursor", lo, hi)
    cached = bodies.get(key)
    if cached is None:
        name, item_schema = records_key(route)
        data = generate(route, seed, version=version)
        if not isinstance(data, dict) or name is None or item_schema is None:
            raise RuntimeError(f"esi.testing cannot build a cursor body for {route.operation}.")
        data[name] = [generate_record(route, seed, i, item_schema) for i in range(lo, hi)]
        data["cursor"] = {"before": cursor_encode(lo), "after": cursor_encode(hi)}
        cached = bodies.put(key, data)
    return cached


def from_id_body(
    bodies: BodyCache, route: Route, config: RouteConfig, seed: dict[str, Any], params: dict[str, Any], version: int
) -> tuple[bytes, str] | str:
    """``from_id``/``last_mail_id`` routes: newest records first, a bound returns the older ones.

    The history holds ``pages * items`` records (3 x 10 by default); each ``body_version`` adds
    5 newer ones. Record ``i`` has id ``1_000_000_000 + 7 * i``.
    """
    param = "from_id" if any(p.name == "from_id" for p in route.query_params) else "last_mail_id"
    size = config.items or 10
    total = (config.pages or 3) * size + 5 * version
    bound = params.get(param)
    end = total if bound is None else max(0, min(total, -(-(int(bound) - 1_000_000_000) // 7)))
    lo = max(0, end - size)
    key = (route.operation, route.compatibility_date, tuple(sorted(seed.items())), version, param, lo, end)
    cached = bodies.get(key)
    if cached is None:
        assert route.schema is not None
        array = _resolve_schema(route, route.schema)
        item_schema = array.get("items", {})
        records = []
        for i in range(end - 1, lo - 1, -1):
            record = generate_record(route, seed, i, item_schema)
            record[_ID_FIELDS[param]] = 1_000_000_000 + 7 * i
            records.append(record)
        cached = bodies.put(key, records)
    return cached


def _resolve_schema(route: Route, schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        target: Any = route.document
        for part in schema["$ref"].lstrip("#/").split("/"):
            target = target[part]
        schema = target
    return schema
