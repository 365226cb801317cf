"""Typed stubs for ``client.<Tag>.<OperationId>(...)``, written from one view of the spec.

The stub module (``esi/client/_typed.pyi``) declares one class per tag whose methods take the
operation's parameters as typed keywords and return a :class:`~esi.client._accessors.PendingCall`
subclass whose ``result()``/``results()`` are typed from the response schema (TypedDicts).
``EsiClient`` inherits its attributes under ``TYPE_CHECKING`` only: nothing changes at runtime.
See ``docs/typed-stubs.md``.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from esi.client._spec import Operation, Parameter, SpecIndex, snake_case

__all__ = ["STUB_PATH", "render_stubs"]

#: Where the shipped stubs live (mypy reads them for ``esi.client._typed``).
STUB_PATH = Path(__file__).resolve().parent / "_typed.pyi"

_SCALARS = {"integer": "int", "number": "float", "string": "str", "boolean": "bool"}
_REF = "#/components/schemas/"


def _camel(text: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^0-9A-Za-z]+", text) if part)


class _Writer:
    """Turns schemas into type expressions, collecting the TypedDicts they need."""

    def __init__(self, spec: SpecIndex) -> None:
        self.spec = spec
        self.names: set[str] = set()
        self.by_key: dict[Any, str] = {}
        self.typeddicts: list[str] = []

    def unique(self, wanted: str) -> str:
        name, n = wanted, 2
        while name in self.names:
            name, n = f"{wanted}{n}", n + 1
        self.names.add(name)
        return name

    def deref(self, schema: Any) -> tuple[Any, str | None]:
        ref_name = None
        while isinstance(schema, Mapping) and isinstance(schema.get("$ref"), str):
            ref = schema["$ref"]
            if ref.startswith(_REF):
                ref_name = _camel(ref[len(_REF) :])
            node: Any = self.spec.document
            for part in ref[2:].split("/"):
                node = node[part]
            schema = node
        return schema, ref_name

    def type_of(self, schema: Any, hint: str) -> str:
        schema, ref_name = self.deref(schema)
        if not isinstance(schema, Mapping):
            return "Any"
        hint = ref_name or hint
        if "oneOf" in schema or "anyOf" in schema:
            options = schema.get("oneOf") or schema.get("anyOf") or []
            return _union([self.type_of(s, f"{hint}{i + 1}") for i, s in enumerate(options)])
        if "enum" in schema:
            return "Literal[" + ", ".join(repr(v) for v in schema["enum"]) + "]"
        kinds = schema.get("type")
        if isinstance(kinds, list):
            return _union([self.type_of({**schema, "type": k}, hint) if k != "null" else "None" for k in kinds])
        if kinds in _SCALARS:
            return _SCALARS[kinds]
        if kinds == "array":
            return f"list[{self.type_of(schema.get('items') or {}, hint + 'Item')}]"
        if kinds == "object" or "properties" in schema:
            if schema.get("properties"):
                return self.typeddict(schema, hint)
            extra = schema.get("additionalProperties")
            if isinstance(extra, Mapping):
                return f"dict[str, {self.type_of(extra, hint + 'Value')}]"
            return "dict[str, Any]"
        return "Any"

    def typeddict(self, schema: Mapping[str, Any], hint: str) -> str:
        key = id(schema)
        if key in self.by_key:
            return self.by_key[key]
        name = self.by_key[key] = self.unique(hint)
        required = set(schema.get("required") or ())
        fields: list[tuple[str, str]] = []
        for prop, sub in schema["properties"].items():
            kind = self.type_of(sub, name + _camel(prop))
            fields.append((prop, kind if prop in required else f"NotRequired[{kind}]"))
        if all(p.isidentifier() and not keyword.iskeyword(p) for p, _ in fields):
            body = "\n".join(f"    {p}: {t}" for p, t in fields)
            self.typeddicts.append(f"class {name}(TypedDict):\n{body}\n")
        else:  # a key like "from" needs the functional form
            items = "".join(f"        {p!r}: {t},\n" for p, t in fields)
            self.typeddicts.append(f"{name} = TypedDict(\n    {name!r},\n    {{\n{items}    }},\n)\n")
        return name


def _union(kinds: list[str]) -> str:
    out: list[str] = []
    for kind in kinds:
        if kind not in out:
            out.append(kind)
    return "Any" if "Any" in out else " | ".join(out)


def _param_type(param: Parameter) -> str:
    def one(kind: str | None, enum: tuple[Any, ...] | None) -> str:
        if enum:
            return "Literal[" + ", ".join(repr(v) for v in enum) + "]"
        return _SCALARS.get(kind or "", "Any")

    if param.type == "array":
        item = one(param.items_type, param.items_enum)
        return f"{item} | Collection[{item}]"  # the client takes one value or several
    return one(param.type, param.enum)


def _response_schema(spec: SpecIndex, op: Operation) -> Any:
    raw = spec.document["paths"][op.path][op.method]
    for status in sorted(raw.get("responses") or {}):
        if status.startswith("2"):
            response, _ = _Writer(spec).deref(raw["responses"][status])
            content = (response.get("content") or {}).get("application/json")
            if content and content.get("schema"):
                return content["schema"]
    return None


def _signature(writer: _Writer, op: Operation, call: str) -> list[str]:
    args: list[str] = []
    for name, param in op.parameters.items():
        if not name.isidentifier() or keyword.iskeyword(name):
            continue  # not expressible as a keyword argument; the runtime client still takes **{...}
        kind = _param_type(param)
        if param.required and not param.has_default:
            args.append(f"{name}: {kind}")
        elif param.required:
            args.append(f"{name}: {kind} = ...")
        else:
            args.append(f"{name}: {kind} | None = ...")
    if op.body is not None:
        raw = writer.spec.document["paths"][op.path][op.method]["requestBody"]
        body, _ = writer.deref(raw)
        schema = ((body.get("content") or {}).get("application/json") or {}).get("schema") or {}
        kind = writer.type_of(schema, op.id + "Body")
        args.append(f"body: {kind}" if op.body.required else f"body: {kind} | None = ...")
    args += ["token: Any = ...", "language: str | None = ...", "force_refresh: bool = ..."]
    one_line = f"    def {op.id}(self, *, {', '.join(args)}) -> {call}: ..."
    if len(one_line) <= 120:
        return [one_line]
    return [
        f"    def {op.id}(",
        "        self,",
        "        *,",
        *(f"        {a}," for a in args),
        f"    ) -> {call}: ...",
    ]


def render_stubs(spec: SpecIndex) -> str:
    """The ``.pyi`` text for ``spec`` (deterministic: the same view gives the same bytes)."""
    writer = _Writer(spec)
    ops = spec.operations
    tags = {tag.replace(" ", ""): ids for tag, ids in sorted(spec.tags.items())}
    tag_classes = {tag: writer.unique(f"{tag}Operations") for tag in tags}
    calls: list[str] = []
    call_names: dict[str, str] = {}
    for op_id in sorted(ops):
        op = ops[op_id]
        schema = _response_schema(spec, op)
        result = writer.type_of(schema, op_id + "Result") if schema is not None else "Any"
        name = call_names[op_id] = writer.unique(f"{op_id}Call")
        doc = f'    """{op.method.upper()} {op.path}"""\n'
        calls.append(
            f"@type_check_only\nclass {name}(PendingCall):\n{doc}"
            f"    def result(self, **kwargs: Any) -> {result}: ...\n"
            f"    def results(self, **kwargs: Any) -> {result}: ...\n"
        )
    classes: list[str] = []
    for tag, ids in tags.items():
        lines = [f"@type_check_only\nclass {tag_classes[tag]}:"]
        for op_id in sorted(ids):
            lines += _signature(writer, ops[op_id], call_names[op_id])
            lines.append(f"    {snake_case(op_id)} = {op_id}")
        classes.append("\n".join(lines) + "\n")
    attrs = "".join(f"    {tag}: {cls}\n" for tag, cls in tag_classes.items())
    header = (
        f"# Generated by `manage.py esi_generate_stubs` from the ESI view of {spec.date}. Do not edit.\n"
        "# Typed client.<Tag>.<OperationId>(...) accessors; see docs/typed-stubs.md.\n"
        "from collections.abc import Collection\n"
        "from typing import Any, Literal, NotRequired, TypedDict, type_check_only\n\n"
        "from esi.client._accessors import PendingCall\n\n"
        f'VIEW_DATE: str = "{spec.date}"\n'
    )
    tail = f'@type_check_only\nclass TypedTags:\n    """The tags of the view of {spec.date}."""\n\n{attrs}'
    return "\n\n".join([header, *writer.typeddicts, *calls, *classes, tail])
