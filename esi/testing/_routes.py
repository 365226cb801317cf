"""The route table of the simulator, built once per compatibility view from the bundled specs.

A *view* is what ESI serves for one ``X-Compatibility-Date``: for every path and method, the
newest operation whose ``x-compatibility-date`` is not after the requested date. The two bundled
documents (oldest view and newest view) hold every operation version the simulator knows; the
document served for a date between them is composed from that view's operations.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = ["OLDEST_DATE", "Param", "Route", "Router", "View", "Views", "load_views"]

_DATA = Path(__file__).resolve().parent.parent / "data"
OLDEST_DATE = "2020-01-01"
_WINDOW_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_LEAF = "\0route"  # trie key of the route ending at a node (never a path segment)


@dataclass(frozen=True)
class Param:
    """One query or path parameter with what the simulator checks about it."""

    name: str
    location: str
    required: bool
    type: str | None
    default: Any = None
    enum: tuple[Any, ...] | None = None


@dataclass
class Route:
    """One operation of one view, with everything the request path needs precomputed."""

    operation: str
    method: str
    path: str
    segments: tuple[str, ...]
    compatibility_date: str
    path_params: tuple[Param, ...]
    query_params: tuple[Param, ...]
    scopes: tuple[str, ...]
    rate_group: str | None
    rate_max: int | None
    rate_window: float | None
    cache_age: int | None
    pagination: str | None  # "pages", "cursor", "from_id" or None
    success_status: int
    schema: dict[str, Any] | None
    tags: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()  # x-required-roles: any one of them is enough
    spec: dict[str, Any] = field(default_factory=dict, repr=False)
    document: dict[str, Any] = field(default_factory=dict, repr=False)


def parse_window(text: str | int | float) -> float:
    """``"15m"`` -> 900.0 (the spec's ``window-size``)."""
    if isinstance(text, int | float):
        return float(text)
    unit = text[-1]
    if unit in _WINDOW_UNITS:
        return float(text[:-1]) * _WINDOW_UNITS[unit]
    return float(text)


def format_window(seconds: float) -> str:
    """900 -> ``"15m"``, 60 -> ``"1m"``, 90 -> ``"90s"`` (as in ``X-Ratelimit-Limit``)."""
    whole = int(seconds)
    for unit, size in (("h", 3600), ("m", 60)):
        if whole >= size and whole % size == 0:
            return f"{whole // size}{unit}"
    return f"{whole}s"


def _resolve(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        ref = node["$ref"]
        target: Any = doc
        for part in ref.lstrip("#/").split("/"):
            target = target[part]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _param(doc: dict[str, Any], raw: dict[str, Any]) -> Param:
    raw = _resolve(doc, raw)
    schema = _resolve(doc, raw.get("schema", {}))
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    enum = tuple(schema["enum"]) if "enum" in schema else None
    return Param(raw["name"], raw["in"], bool(raw.get("required")), kind, schema.get("default"), enum)


def _route(doc: dict[str, Any], path: str, method: str, op: dict[str, Any], newest: dict[str, Any]) -> Route:
    params = [_param(doc, p) for p in op.get("parameters", [])]
    query = tuple(p for p in params if p.location == "query")
    names = {p.name for p in query}
    pagination = "cursor" if op.get("x-pagination") == "cursor" else ("pages" if "page" in names else None)
    if pagination is None and names & {"from_id", "last_mail_id"}:
        pagination = "from_id"
    scopes: list[str] = []
    for requirement in op.get("security", []):
        scopes.extend(requirement.get("OAuth2", []))
    limit = newest.get("x-rate-limit") or op.get("x-rate-limit")  # limits are the server's, not the view's
    success = next((int(code) for code in sorted(op["responses"]) if code.isdigit() and code.startswith("2")), 200)
    schema = None
    if success != 204:
        content = op["responses"].get(str(success), {}).get("content", {}).get("application/json")
        schema = content.get("schema") if content else None
    return Route(
        operation=op["operationId"],
        method=method.upper(),
        path=path,
        segments=tuple(path.strip("/").split("/")),
        compatibility_date=op.get("x-compatibility-date", OLDEST_DATE),
        path_params=tuple(p for p in params if p.location == "path"),
        query_params=query,
        scopes=tuple(scopes),
        rate_group=limit["group"] if limit else None,
        rate_max=int(limit["max-tokens"]) if limit else None,
        rate_window=parse_window(limit["window-size"]) if limit else None,
        cache_age=op.get("x-cache-age", newest.get("x-cache-age")),
        pagination=pagination,
        success_status=success,
        schema=schema,
        tags=tuple(op.get("tags", ())),
        roles=tuple(op.get("x-required-roles", ())),
        spec=op,
        document=doc,
    )


class Router:
    """Maps (method, path) to a :class:`Route` with a segment trie: no regex scan per request."""

    def __init__(self, routes: list[Route]) -> None:
        self.routes = {r.operation: r for r in routes}
        self._static: dict[tuple[str, str], Route] = {}
        self._trie: dict[str, Any] = {}
        self.paths: set[str] = set()
        for route in routes:
            self.paths.add(route.path)
            if "{" not in route.path:
                self._static[(route.method, route.path)] = route
                continue
            node = self._trie.setdefault(route.method, {})
            for seg in route.segments:
                key = "{}" if seg.startswith("{") else seg
                node = node.setdefault(key, {})
            node[_LEAF] = route

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        """-> (route, path values, whether the path exists for some other method)."""
        route = self._static.get((method, path))
        if route is not None:
            return route, {}, True
        segments = path.strip("/").split("/")
        found = self._walk(self._trie.get(method, {}), segments)
        if found is not None:
            values = {seg[1:-1]: value for seg, value in zip(found.segments, segments, strict=True) if seg[0] == "{"}
            return found, values, True
        other = any(
            (m, path) in self._static or self._walk(self._trie.get(m, {}), segments) is not None
            for m in ("GET", "POST", "PUT", "DELETE")
            if m != method
        )
        return None, {}, other

    @staticmethod
    def _walk(node: dict[str, Any], segments: list[str]) -> Route | None:
        for seg in segments:
            nxt = node.get(seg)
            if nxt is None:
                nxt = node.get("{}")
                if nxt is None:
                    return None
            node = nxt
        found: Route | None = node.get(_LEAF)
        return found


@dataclass
class View:
    """The API as of one breakpoint date."""

    date: str
    router: Router
    document: bytes


class Views:
    """All views: picks the view for a requested compatibility date, building each one once."""

    def __init__(self, documents: list[dict[str, Any]]) -> None:
        self.documents = sorted(documents, key=lambda d: d["info"]["version"])
        self._doc_bytes = {d["info"]["version"]: json.dumps(d).encode() for d in self.documents}
        dates = {OLDEST_DATE}
        self._versions: dict[tuple[str, str], list[tuple[str, dict[str, Any], dict[str, Any]]]] = {}
        for doc in self.documents:
            for path, item in doc["paths"].items():
                for method, op in item.items():
                    date = op.get("x-compatibility-date", OLDEST_DATE)
                    dates.add(date)
                    versions = self._versions.setdefault((path, method), [])
                    if all(v[0] != date for v in versions):
                        versions.append((date, op, doc))
        for versions in self._versions.values():
            versions.sort(key=lambda v: v[0])
        # A route missing from a newer document was removed as of that document's date.
        self._removed: dict[tuple[str, str], str] = {}
        for key in self._versions:
            seen = False
            for doc in self.documents:
                present = key[1] in doc["paths"].get(key[0], {})
                if seen and not present:
                    self._removed.setdefault(key, doc["info"]["version"])
                seen = seen or present
        self.breakpoints = sorted(dates)
        self.newest = self.documents[-1]["info"]["version"]
        self._views: dict[str, View] = {}

    def valid_dates(self) -> list[str]:
        """The dates ``/meta/compatibility-dates`` lists, newest first."""
        return sorted(set(self.breakpoints) | {self.newest}, reverse=True)

    def view(self, date: str) -> View:
        """The view for a (validated, not future) ``YYYY-MM-DD`` date."""
        point = OLDEST_DATE
        for bp in self.breakpoints:
            if bp <= date:
                point = bp
        view = self._views.get(point)
        if view is None:
            routes = []
            for (path, method), versions in self._versions.items():
                chosen = [v for v in versions if v[0] <= point]
                removed = self._removed.get((path, method))
                if chosen and (removed is None or removed > point):
                    _, op, doc = chosen[-1]
                    newest = self.documents[-1]["paths"].get(path, {}).get(method, {})
                    routes.append(_route(doc, path, method, op, newest))
            document = self._doc_bytes.get(point) or self._compose(point, routes)
            view = View(point, Router(routes), document)
            self._views[point] = view
        return view

    def _compose(self, point: str, routes: list[Route]) -> bytes:
        """The document ESI would serve for ``point``: this view's operations, each as the document
        it comes from has it. Components of all documents, the newer definition winning a clash (so
        an old operation may name a newer schema: bodies are generated from the route's own document)."""
        base = max((d for d in self.documents if d["info"]["version"] <= point), key=lambda d: d["info"]["version"])
        components: dict[str, dict[str, Any]] = {}
        for doc in self.documents:  # oldest first
            for section, items in doc.get("components", {}).items():
                components.setdefault(section, {}).update(items)
        paths: dict[str, dict[str, Any]] = {}
        for route in sorted(routes, key=lambda r: (r.path, r.method)):
            paths.setdefault(route.path, {})[route.method.lower()] = route.spec
        used = {tag for route in routes for tag in route.tags}
        tags: dict[str, Any] = {}
        for doc in self.documents:
            tags.update({t["name"]: t for t in doc.get("tags", []) if t.get("name") in used})
        composed = {
            **base,
            "info": {**base["info"], "version": point},
            "paths": paths,
            "components": components,
            "tags": sorted(tags.values(), key=lambda t: str(t["name"])),
        }
        return json.dumps(composed).encode()


def check_date(text: str, today: dt.date | None = None) -> str | None:
    """-> an error message for a bad ``X-Compatibility-Date``, or None when it is usable."""
    try:
        value = dt.date.fromisoformat(text)
    except ValueError:
        return f"Invalid compatibility date {text!r}: use YYYY-MM-DD."
    if len(text) != 10:
        return f"Invalid compatibility date {text!r}: use YYYY-MM-DD."
    today = today or dt.datetime.now(dt.UTC).date()
    if value > today:
        return f"Compatibility date {text} is in the future; the newest valid date is {today.isoformat()}."
    if text < OLDEST_DATE:
        return f"Compatibility date {text} is before the oldest date {OLDEST_DATE}."
    return None


@lru_cache(maxsize=4)
def load_views(*paths: str) -> Views:
    """Load the bundled documents (or the given ones) once per process."""
    files = [Path(p) for p in paths] if paths else sorted(_DATA.glob("openapi-*.json"))
    return Views([json.loads(f.read_text()) for f in files])
