"""The import graph of esi and esi_tasks: no cycles, no imports hidden in functions to dodge one.

A function-local import hides a dependency from the reader and from the import order: it is how
a cycle (a imports b imports a) is made to work by accident. Every ``import`` inside a function
body of ``esi`` and ``esi_tasks`` is listed here, each with its reason:

- ``LEGITIMATE``: lazy on purpose and staying so (an optional dependency, Django's ``ready()``,
  a compatibility door that loads the legacy layer only when an old name is used);
- ``OFFENDERS``: the imports #14 removes. ``cycle`` closes an import cycle (break it by moving
  code; tasks may be referenced by name); ``top`` closes no cycle and can move to the top of its
  module (or say here why it must stay lazy and move to ``LEGITIMATE``).

Removing an offender? Delete its line here too: the lists must match the code exactly, so they
only shrink. The import graph (module-level and function-local imports, ``TYPE_CHECKING``
blocks excluded) minus the ``cycle`` offenders must be free of cycles.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("esi", "esi_tasks")
SKIPPED = ("migrations", "tests")  # generated migrations; esi.tests is django-esi 10's factories

# "module:function -> imported module": why it stays lazy.
LEGITIMATE: dict[str, str] = {
    "esi.apps:EsiConfig.ready -> esi.checks": "Django: checks are registered in ready()",
    "esi.apps:EsiConfig.ready -> esi.dashboard.builtin": "Django: dashboard panels (models) registered in ready()",
    "esi.exceptions:__getattr__ -> esi.compat._deprecation": "compat door: warns when an old name is used",
    "esi.exceptions:__getattr__ -> esi.compat.errors": "compat door (PEP 562): the core never loads esi.compat",
    "esi.testing._server:serve -> esi.testing._app": "loaded in the simulator's child process only",
    "esi.testing._server:serve -> uvicorn": "optional dependency (extra 'testing')",
    "esi.testing.pytest_plugin:_django_settings -> django.conf": "optional: the plugin works without Django",
    "esi_tasks.apps:EsiTasksConfig.ready -> celery": "Django: wiring in ready()",
    "esi_tasks.apps:EsiTasksConfig.ready -> django.db.models.signals": "Django: signal receivers wired in ready()",
    "esi_tasks.apps:EsiTasksConfig.ready -> esi_tasks.checks": "Django: checks are registered in ready()",
    "esi_tasks.apps:EsiTasksConfig.ready -> esi_tasks.dashboard": "Django: dashboard panels registered in ready()",
    "esi_tasks.apps:EsiTasksConfig.ready -> esi_tasks.fetch_task": "Django: wiring in ready()",
    "esi_tasks.apps:EsiTasksConfig.ready -> esi_tasks.models": "Django: models are ready in ready()",
    "esi_tasks.apps:EsiTasksConfig.ready -> esi_tasks.queues": "Django: wiring in ready()",
    "esi_tasks.apps:EsiTasksConfig.ready -> esi_tasks.scheduling": "Django: signal receivers wired in ready()",
    "esi_tasks.apps:EsiTasksConfig.ready -> esi_tasks.tasks": "Django: every process knows the tasks by name",
}

# "module:function -> imported module": "cycle" or "top" (see the module docstring). Shrink me.
OFFENDERS: dict[str, str] = {}


@dataclass(frozen=True)
class Import:
    """One import statement's dependency: ``importer`` needs ``imported`` (both dotted names)."""

    importer: str
    imported: str
    function: str | None  # the enclosing function's qualified name; None at module level
    line: int

    @property
    def key(self) -> str:
        return f"{self.importer}:{self.function} -> {self.imported}"


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if any(part in SKIPPED for part in parts[1:]):
                continue
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _owner(name: str) -> str:
    """The longest known module that ``name`` is or lies in (a name imported from a module)."""
    parts = name.split(".")
    while len(parts) > 1 and ".".join(parts) not in MODULES:
        parts.pop()
    return ".".join(parts)


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [_owner(alias.name) if alias.name.split(".")[0] in PACKAGES else alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        package = module.split(".")
        if MODULES[module].name != "__init__.py":
            package.pop()
        package = package[: len(package) - node.level + 1]
        base = ".".join([*package, base] if base else package)
    if base.split(".")[0] not in PACKAGES:
        return [base]  # another distribution: its module is enough
    return [_owner(f"{base}.{alias.name}") for alias in node.names]


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imports_of(module: str) -> Iterator[Import]:
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))

    def walk(node: ast.AST, scope: list[str], function: str | None) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            if _is_type_checking(child):
                continue  # annotations only: not a runtime dependency
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                for imported in _targets(module, child):
                    if imported != module:
                        yield Import(module, imported, function, child.lineno)
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                inner = [*scope, child.name]
                yield from walk(child, inner, ".".join(inner))
            elif isinstance(child, ast.ClassDef):
                yield from walk(child, [*scope, child.name], function)
            else:
                yield from walk(child, scope, function)

    yield from walk(tree, [], None)


IMPORTS = [imp for module in MODULES for imp in _imports_of(module)]


def _cycles(edges: set[tuple[str, str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    graph: dict[str, list[str]] = {}
    for a, b in sorted(edges):
        graph.setdefault(a, []).append(b)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(graph.get(root, [])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph.get(child, []))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_walk_sees_both_packages_and_their_local_imports() -> None:
    assert {"esi.models", "esi.client", "esi_tasks.tasks"} <= set(MODULES)
    assert any(imp.function is None for imp in IMPORTS) and any(imp.function for imp in IMPORTS)


def test_every_function_local_import_is_listed_with_its_reason() -> None:
    local = {imp.key for imp in IMPORTS if imp.function}
    new = sorted(local - set(LEGITIMATE) - set(OFFENDERS))
    assert not new, (
        "imports inside functions hide a dependency (usually an import cycle): move them to the top "
        f"of the module and break the cycle by moving code; if one must stay lazy, add it to LEGITIMATE "
        f"in {Path(__file__).relative_to(ROOT)} with its reason: {new}"
    )
    gone = sorted((set(LEGITIMATE) | set(OFFENDERS)) - local)
    assert not gone, f"no longer in the code, delete these lines from {Path(__file__).relative_to(ROOT)}: {gone}"
    assert not set(LEGITIMATE) & set(OFFENDERS)
    assert set(OFFENDERS.values()) <= {"cycle", "top"}


def test_there_is_no_import_cycle_but_the_listed_ones() -> None:
    dodges = {key for key, kind in OFFENDERS.items() if kind == "cycle"} | {
        "esi.exceptions:__getattr__ -> esi.compat.errors"  # runs once both modules are loaded
    }
    edges = {(imp.importer, imp.imported) for imp in IMPORTS if imp.key not in dodges}
    assert _cycles(edges) == []


def test_the_cycle_offenders_each_close_a_cycle() -> None:
    """A ``cycle`` entry whose cycle is gone is a plain ``top`` import now: say so in OFFENDERS."""
    edges = {(imp.importer, imp.imported) for imp in IMPORTS}
    in_cycles = {module for component in _cycles(edges) for module in component}
    stale = sorted(
        key
        for key, kind in OFFENDERS.items()
        if kind == "cycle" and not {key.split(":")[0], key.split(" -> ")[1]} <= in_cycles
    )
    assert not stale, f"these close no cycle any more; mark them 'top' (or move them up): {stale}"


def test_esi_never_imports_esi_tasks() -> None:
    offending = [
        f"{imp.importer}:{imp.line}"
        for imp in IMPORTS
        if imp.importer.split(".")[0] == "esi" and imp.imported.split(".")[0] == "esi_tasks"
    ]
    assert offending == []


def test_the_checker_finds_a_cycle_and_its_members() -> None:
    edges = {("a", "b"), ("b", "c"), ("c", "a"), ("c", "d"), ("d", "e")}
    assert _cycles(edges) == [["a", "b", "c"]]
    assert _cycles({("a", "b"), ("b", "c")}) == []
