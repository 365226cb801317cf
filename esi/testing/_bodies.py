"""Deterministic, schema-valid response bodies: same operation, parameters and version, same JSON.

Values are drawn from a :class:`random.Random` seeded by the request's identity, so the whole API
answers without hand-written routes. Fields named like a path or query parameter echo its value
(``character_id`` in the body of ``/characters/90000001/...`` is 90000001), which keeps generated
data plausible. Bodies are cached (bytes + ETag) so repeated requests cost a dict lookup.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import random
import uuid
from collections import OrderedDict
from typing import Any

from esi.testing._routes import Route

__all__ = ["BodyCache", "cursor_decode", "cursor_encode", "generate", "records_key"]

_BASE_TIME = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
_MAX_DEPTH = 8
_WORDS = ("amarr", "caldari", "gallente", "minmatar", "jove", "sansha", "serpentis", "guristas", "angel", "blood")


def _resolve(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = doc
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


class _Generator:
    def __init__(self, doc: dict[str, Any], rng: random.Random, echo: dict[str, Any], items: tuple[int, int]) -> None:
        self.doc = doc
        self.rng = rng
        self.echo = echo
        self.items = items

    def value(self, schema: dict[str, Any], name: str = "", depth: int = 0) -> Any:
        schema = _resolve(self.doc, schema)
        if "oneOf" in schema or "anyOf" in schema:
            option = _resolve(self.doc, self.rng.choice(schema.get("oneOf") or schema["anyOf"]))
            if "properties" in option:  # a tagged union: the chosen variant's fields are all there
                option = {**option, "required": list(option["properties"])}
            return self.value(option, name, depth)
        if "allOf" in schema:
            merged: dict[str, Any] = {}
            for part in schema["allOf"]:
                part = _resolve(self.doc, part)
                merged.setdefault("properties", {}).update(part.get("properties", {}))
                merged.setdefault("required", []).extend(part.get("required", []))
            merged["type"] = "object"
            return self.value(merged, name, depth)
        if "enum" in schema:
            return self.rng.choice(schema["enum"])
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind is None:
            kind = "object" if "properties" in schema else "string"
        if name in self.echo and kind in ("integer", "string") and not isinstance(self.echo[name], list):
            echoed = self.echo[name]
            if kind == "integer" and isinstance(echoed, int):
                return echoed
            if kind == "string" and isinstance(echoed, str):
                return echoed
        method = getattr(self, "_" + kind, None)
        return method(schema, name, depth) if method else None

    def _object(self, schema: dict[str, Any], name: str, depth: int) -> dict[str, Any]:
        props = schema.get("properties", {})
        required = set(schema.get("required", ()))
        out: dict[str, Any] = {}
        for key, sub in props.items():
            if key in required or (depth < _MAX_DEPTH - 2 and self.rng.random() < 0.8):
                out[key] = self.value(sub, key, depth + 1)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict) and not props and depth < _MAX_DEPTH:
            for _ in range(self.rng.randint(1, 2)):
                out[f"{self.rng.choice(_WORDS)}_{self.rng.randint(1, 99)}"] = self.value(extra, "", depth + 1)
        return out

    def _array(self, schema: dict[str, Any], name: str, depth: int) -> list[Any]:
        if depth >= _MAX_DEPTH:
            return []
        low, high = self.items if depth == 0 else (0, 3)
        low = max(low, int(schema.get("minItems", 0)))
        high = min(high, int(schema.get("maxItems", high)))
        count = self.rng.randint(low, max(low, high))
        items = schema.get("items", {})
        values = [self.value(items, name, depth + 1) for _ in range(count)]
        if schema.get("uniqueItems"):
            seen: list[Any] = []
            for v in values:
                if v not in seen:
                    seen.append(v)
            values = seen
        return values

    def _integer(self, schema: dict[str, Any], name: str, depth: int) -> int:
        low = int(schema.get("minimum", 1))
        default_high = 2_000_000_000 if schema.get("format") == "int64" or name.endswith("_id") else 100_000
        high = int(schema.get("maximum", max(low, default_high)))
        return self.rng.randint(low, high)

    def _number(self, schema: dict[str, Any], name: str, depth: int) -> float:
        low = float(schema.get("minimum", 0.0))
        high = float(schema.get("maximum", low + 1_000_000.0))
        return round(self.rng.uniform(low, high), 2)

    def _boolean(self, schema: dict[str, Any], name: str, depth: int) -> bool:
        return self.rng.random() < 0.5

    def _null(self, schema: dict[str, Any], name: str, depth: int) -> None:
        return None

    def _string(self, schema: dict[str, Any], name: str, depth: int) -> str:
        fmt = schema.get("format")
        if fmt == "date-time":
            moment = _BASE_TIME - dt.timedelta(seconds=self.rng.randint(0, 365 * 86400))
            return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
        if fmt == "date":
            return (_BASE_TIME - dt.timedelta(days=self.rng.randint(0, 3650))).date().isoformat()
        if fmt == "uuid":
            return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        label = name or "value"
        return f"{self.rng.choice(_WORDS).title()} {label} {self.rng.randint(1, 9999)}"


def _seed(*parts: Any) -> int:
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def generate(
    route: Route, params: dict[str, Any], *, version: int = 0, language: str = "en", items: tuple[int, int] = (1, 5)
) -> Any:
    """A schema-valid JSON value for ``route``'s success response, fixed by its inputs."""
    if route.schema is None:
        return None
    rng = random.Random(_seed(route.operation, route.compatibility_date, sorted(params.items()), version, language))
    return _Generator(route.document, rng, params, items).value(route.schema)


def records_key(route: Route) -> tuple[str | None, dict[str, Any] | None]:
    """For a cursor route: (name of the records array, schema of one record)."""
    if route.schema is None:
        return None, None
    schema = _resolve(route.document, route.schema)
    for key, sub in schema.get("properties", {}).items():
        sub = _resolve(route.document, sub)
        if key != "cursor" and sub.get("type") == "array":
            return key, sub.get("items", {})
    return None, None


def generate_record(route: Route, params: dict[str, Any], index: int, item_schema: dict[str, Any]) -> Any:
    """Record ``index`` of a cursor route's history (stable across versions: only new ones appear)."""
    rng = random.Random(_seed(route.operation, sorted(params.items()), "record", index))
    return _Generator(route.document, rng, params, (1, 3)).value(item_schema, "", 1)


def cursor_encode(index: int) -> str:
    """An opaque cursor for a record position."""
    return base64.urlsafe_b64encode(f"sim:{index}".encode()).decode().rstrip("=")


def cursor_decode(token: str) -> int | None:
    """-> the position, or None for a cursor this simulator never handed out."""
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    if not text.startswith("sim:") or not text[4:].isdigit():
        return None
    return int(text[4:])


class BodyCache:
    """A small LRU of encoded bodies with their ETag, keyed by the request's identity."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._data: OrderedDict[Any, tuple[bytes, str]] = OrderedDict()

    def get(self, key: Any) -> tuple[bytes, str] | None:
        hit = self._data.get(key)
        if hit is not None:
            self._data.move_to_end(key)
        return hit

    def put(self, key: Any, value: Any) -> tuple[bytes, str]:
        body = json.dumps(value, separators=(",", ":")).encode()
        entry = (body, etag_of(body))
        self._data[key] = entry
        if len(self._data) > self.size:
            self._data.popitem(last=False)
        return entry

    def clear(self) -> None:
        self._data.clear()


def etag_of(body: bytes) -> str:
    """A strong ETag of a body (opaque to clients)."""
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'
