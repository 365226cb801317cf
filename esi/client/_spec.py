"""The ESI OpenAPI document, indexed once per process into what a call needs.

No OpenAPI object model: the JSON is parsed with :mod:`json` (a few milliseconds for the
1 MB document) and an :class:`Operation` record is built only when an operation is first
used, so a cold start pays for one ``json.load`` and a walk over the path table.
"""

from __future__ import annotations

import difflib
import json
import logging
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from esi.client._operations import validate_params
from esi.client.limits._model import RateLimitGroup
from esi.client.limits._rules import window_seconds
from esi.exceptions import EsiSpecError, OperationNotInView, UnknownOperation

__all__ = [
    "BUNDLED_SPEC",
    "Location",
    "Operation",
    "Parameter",
    "RequestBody",
    "SpecIndex",
    "snake_case",
]

logger = logging.getLogger("esi.client")

BUNDLED_SPEC = Path(__file__).resolve().parent.parent / "data" / "openapi-2026-08-04.json"

#: Where an operation lives: (path, method).
Location = tuple[str, str]

#: Header parameters the client sets itself; never accepted from callers.
CLIENT_HEADERS = frozenset({"AcceptLanguage", "IfNoneMatch", "CompatibilityDate", "Tenant", "IfModifiedSince"})
_HTTP_METHODS = ("get", "post", "put", "delete", "patch", "head")


class _NoDefault:
    def __repr__(self) -> str:
        return "<no default>"


_MISSING: Any = _NoDefault()


def snake_case(operation_id: str) -> str:
    """``GetCharactersCharacterIdAssets`` -> ``get_characters_character_id_assets``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", operation_id).lower()


@dataclass(frozen=True, slots=True)
class Parameter:
    """One caller-supplied parameter of an operation (path or query)."""

    name: str
    location: str  # "path" | "query" | "header"
    type: str | None  # JSON-schema type: integer, number, string, boolean, array
    required: bool = False
    enum: tuple[Any, ...] | None = None
    default: Any = _MISSING
    items_type: str | None = None
    items_enum: tuple[Any, ...] | None = None

    @property
    def has_default(self) -> bool:
        return self.default is not _MISSING


@dataclass(frozen=True, slots=True)
class RequestBody:
    """A JSON request body: whether it is required and its top-level JSON type."""

    required: bool
    type: str | None  # "array" | "object" | None (unknown)


@dataclass(eq=False, slots=True)
class Operation:
    """What a call of one ``operationId`` needs, taken from the spec once."""

    id: str
    method: str  # lower case
    path: str
    parameters: dict[str, Parameter]
    body: RequestBody | None
    scopes: list[str]
    rate_limit: RateLimitGroup | None
    cache_age: int | None
    paginated: str | None  # "pages" | "cursor" | "from_id" | None
    tags: list[str]
    summary: str = ""
    path_params: tuple[str, ...] = field(default=())

    @property
    def secured(self) -> bool:
        return bool(self.scopes)


def _window_seconds(value: Any) -> float:
    seconds = float(value) if isinstance(value, int | float) else window_seconds(str(value))
    if seconds is None:
        raise EsiSpecError(f"Cannot read rate-limit window {value!r} in the OpenAPI document.")
    return seconds


class SpecIndex:
    """operationId -> :class:`Operation`, built lazily from one parsed OpenAPI document (one view).

    ``other_names`` (set by :mod:`esi.client._views`) gives the names of the other views, so
    an operation named as in another view resolves to the same route in this one.
    ``server_limits`` gives ``x-rate-limit`` by route from the newest bundled view: rate-limit
    groups are the server's, so a route whose own (older) document names none still gets its group.
    """

    def __init__(self, document: Mapping[str, Any], source: str = "<memory>", *, date: str | None = None) -> None:
        if not isinstance(document, Mapping) or not isinstance(document.get("paths"), Mapping):
            raise EsiSpecError(f"{source} is not an OpenAPI document (no 'paths' object).")
        self.source = source
        self.other_names: Callable[[], Mapping[str, Mapping[str, Location]]] | None = None
        self.server_limits: Callable[[], Mapping[Location, Any]] | None = None
        self._foreign: dict[str, str | None] = {}
        self._absent: dict[str, list[str]] = {}
        self._doc = document
        self._components: Mapping[str, Any] = document.get("components") or {}
        self._locations: dict[str, tuple[str, str]] = {}
        for path, item in document["paths"].items():
            for method in _HTTP_METHODS:
                raw = item.get(method)
                if raw is not None and raw.get("operationId"):
                    self._locations[raw["operationId"]] = (path, method)
        self._built: dict[str, Operation] = {}
        self._aliases: dict[str, str] | None = None
        self._tags: dict[str, list[str]] | None = None
        self._lock = threading.Lock()
        self.date = date or self.version

    # --- loading ---------------------------------------------------------------------------

    @classmethod
    def from_file(cls, path: str | Path) -> SpecIndex:
        try:
            with open(path, "rb") as fh:
                document = json.load(fh)
        except OSError as exc:
            raise EsiSpecError(f"Cannot read the ESI OpenAPI document {str(path)!r}: {exc}. Check ESI_SPEC_FILE.")
        except ValueError as exc:
            raise EsiSpecError(f"{str(path)!r} is not valid JSON ({exc}); run `manage.py esi_update_spec` again.")
        return cls(document, str(path))

    # --- lookup ----------------------------------------------------------------------------

    @property
    def version(self) -> str:
        """The spec's ``info.version`` (ESI puts the compatibility date there)."""
        return str((self._doc.get("info") or {}).get("version", ""))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.resolve(name) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self._locations)

    def __len__(self) -> int:
        return len(self._locations)

    @property
    def document(self) -> Mapping[str, Any]:
        """The parsed OpenAPI document (read-only by convention)."""
        return self._doc

    @property
    def locations(self) -> Mapping[str, Location]:
        """operationId -> (path, method) of every operation of this view."""
        return self._locations

    def resolve(self, name: str) -> str | None:
        """The operationId for ``name`` (an operationId or its snake_case alias, of this view or
        of another view whose route this view has), or None."""
        if name in self._locations:
            return name
        if self._aliases is None:
            self._aliases = {snake_case(op_id): op_id for op_id in self._locations}
        found = self._aliases.get(name)
        if found is None and self.other_names is not None:
            found = self._foreign.get(name) if name in self._foreign else self._resolve_foreign(name)
        return found

    def _resolve_foreign(self, name: str) -> str | None:
        """``name`` as another view calls it -> this view's operationId for the same route."""
        by_route = {loc: op_id for op_id, loc in self._locations.items()}
        found: str | None = None
        dates: list[str] = []
        assert self.other_names is not None
        for date, names in sorted(self.other_names().items()):
            loc = names.get(name)
            if loc is None:
                loc = next((lc for op_id, lc in names.items() if snake_case(op_id) == name), None)
            if loc is None:
                continue
            dates.append(date)
            if found is None and loc in by_route:
                found = by_route[loc]
                logger.info(
                    "%s is named %s in the ESI view of %s (%s %s); calling it by that name.",
                    name,
                    found,
                    self.date,
                    loc[1].upper(),
                    loc[0],
                )
        self._foreign[name] = found
        if found is None and dates:
            self._absent[name] = dates
        return found

    def suggestions(self, name: str, n: int = 3) -> list[str]:
        """The operationIds closest to ``name``, for error messages."""
        ids = list(self._locations)
        by_lower = {i.lower(): i for i in ids}
        by_lower.update({snake_case(i): i for i in ids})
        matches = difflib.get_close_matches(name.lower(), list(by_lower), n=n * 2, cutoff=0.5)
        out: list[str] = []
        for m in matches:
            if by_lower[m] not in out:
                out.append(by_lower[m])
        return out[:n]

    def unknown(self, name: str, shown: str | None = None) -> UnknownOperation:
        """The error for a name :meth:`resolve` does not know: OperationNotInView when another
        view has its route (naming those dates), else UnknownOperation; both name the closest."""
        if self.resolve(name) is None and name in self._absent:
            return OperationNotInView(shown or name, self.date, self._absent[name], self.suggestions(name))
        return UnknownOperation(shown or name, self.suggestions(name))

    def get(self, name: str) -> Operation:
        """The :class:`Operation` for an operationId or snake_case alias; UnknownOperation otherwise."""
        op = self._built.get(name)
        if op is not None:
            return op
        op_id = self.resolve(name)
        if op_id is None:
            raise self.unknown(name)
        op = self._built.get(op_id)
        if op is None:
            with self._lock:
                op = self._built.get(op_id) or self._build(op_id)
                self._built[op_id] = op
        if name != op_id:
            self._built[name] = op
        return op

    @property
    def operations(self) -> dict[str, Operation]:
        """Every operation, by operationId (builds the whole index)."""
        return {op_id: self.get(op_id) for op_id in self._locations}

    @property
    def tags(self) -> dict[str, list[str]]:
        """Tag -> operationIds, for ``client.<Tag>.<Operation>`` access."""
        if self._tags is None:
            tags: dict[str, list[str]] = {}
            for op_id, (path, method) in self._locations.items():
                for tag in self._doc["paths"][path][method].get("tags") or ["Untagged"]:
                    tags.setdefault(tag, []).append(op_id)
            self._tags = tags
        return self._tags

    @cached_property
    def languages(self) -> tuple[str, ...]:
        """Values ESI accepts in ``Accept-Language``."""
        param = (self._components.get("parameters") or {}).get("AcceptLanguage") or {}
        return tuple((param.get("schema") or {}).get("enum") or ("en", "de", "fr", "ja", "ru", "zh", "ko", "es"))

    def validate(self, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Normalised parameters for ``operation`` or InvalidParameter/UnknownOperation; no I/O."""
        return validate_params(self.get(operation), params)

    # --- building one record ---------------------------------------------------------------

    def _deref(self, obj: Any, depth: int = 0) -> Any:
        while isinstance(obj, Mapping) and "$ref" in obj and depth < 10:
            ref = obj["$ref"]
            if not isinstance(ref, str) or not ref.startswith("#/"):
                raise EsiSpecError(f"Unsupported $ref {ref!r} in {self.source}.")
            node: Any = self._doc
            for part in ref[2:].split("/"):
                node = node[part]
            obj = node
            depth += 1
        return obj

    def _build(self, op_id: str) -> Operation:
        path, method = self._locations[op_id]
        raw = self._doc["paths"][path][method]
        item_params = self._doc["paths"][path].get("parameters") or []
        params: dict[str, Parameter] = {}
        for p in [*item_params, *(raw.get("parameters") or [])]:
            ref = p.get("$ref", "") if isinstance(p, Mapping) else ""
            if ref.rsplit("/", 1)[-1] in CLIENT_HEADERS:
                continue
            p = self._deref(p)
            if p.get("in") not in ("path", "query"):
                continue  # other header/cookie parameters are the client's business
            schema = self._deref(p.get("schema") or {})
            items = self._deref(schema.get("items") or {})
            params[p["name"]] = Parameter(
                name=p["name"],
                location=p["in"],
                type=schema.get("type"),
                required=bool(p.get("required")) or p["in"] == "path",
                enum=tuple(schema["enum"]) if "enum" in schema else None,
                default=schema.get("default", _MISSING),
                items_type=items.get("type"),
                items_enum=tuple(items["enum"]) if "enum" in items else None,
            )
        body = None
        if raw.get("requestBody"):
            rb = self._deref(raw["requestBody"])
            schema = self._deref(((rb.get("content") or {}).get("application/json") or {}).get("schema") or {})
            body = RequestBody(required=bool(rb.get("required")), type=schema.get("type"))
        scopes: list[str] = []
        for requirement in raw.get("security") or []:
            for scope in requirement.get("OAuth2") or []:
                if scope not in scopes:
                    scopes.append(scope)
        rl = raw.get("x-rate-limit")
        if not isinstance(rl, Mapping) and self.server_limits is not None:
            rl = self.server_limits().get((path, method))
        rate_limit = (
            RateLimitGroup(str(rl["group"]), int(rl["max-tokens"]), _window_seconds(rl["window-size"]))
            if isinstance(rl, Mapping) and rl.get("group")
            else None
        )
        if raw.get("x-pagination") == "cursor" or ("before" in params and "after" in params):
            paginated: str | None = "cursor"
        elif "page" in params:
            paginated = "pages"
        elif "from_id" in params or "last_mail_id" in params:
            paginated = "from_id"
        else:
            paginated = None
        cache_age = raw.get("x-cache-age")
        return Operation(
            id=op_id,
            method=method,
            path=path,
            parameters=params,
            body=body,
            scopes=scopes,
            rate_limit=rate_limit,
            cache_age=int(cache_age) if isinstance(cache_age, int | float) else None,
            paginated=paginated,
            tags=list(raw.get("tags") or []),
            summary=str(raw.get("summary") or ""),
            path_params=tuple(n for n, p in params.items() if p.location == "path"),
        )
