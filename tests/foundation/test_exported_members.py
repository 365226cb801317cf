"""Every public package exports exactly what it binds, in order, and every module's ``__all__`` holds.

After httpx's ``test_exported_members``: a package's ``__init__`` is its public face, so each public
name it binds is in ``__all__`` (nothing leaks in unlisted, nothing listed is missing), and each
class or function it exports is its own code (defined inside the package), not a re-export of a
library's. Every other public module that declares ``__all__`` keeps it sorted and resolvable.
"""

from __future__ import annotations
import __future__

import importlib
import importlib.metadata
import inspect
import pkgutil
import types
import warnings

import pytest

import esi
import esi_tasks

# The packages whose __init__ is a public face (re-exports only).
PACKAGES = [
    "esi",
    "esi.client",
    "esi.client.limits",
    "esi.compat",
    "esi.dashboard",
    "esi.sso",
    "esi.testing",
    "esi.tokens",
    "esi_tasks",
]
SKIPPED = (".migrations", ".management", "esi.tests")  # generated; commands; django-esi 10's factories


def _public_modules() -> list[str]:
    names = []
    for package in (esi, esi_tasks):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            private = any(part.startswith("_") for part in info.name.split("."))
            if not private and not any(skip in info.name for skip in SKIPPED):
                names.append(info.name)
    return sorted(names)


def _bound_public_names(module: types.ModuleType) -> set[str]:
    """Public names the module binds, but its submodules and ``from __future__`` features."""
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and not isinstance(value, __future__._Feature)
    }


def _is_sorted(names: list[str]) -> bool:
    """Sorted as ``sorted()`` does, or isort-style (CONSTANTS, Classes, functions: ruff's RUF022)."""

    def isort_key(name: str) -> tuple[int, str]:
        return (0 if name.isupper() else 1 if name[:1].isupper() else 2, name)

    return names in (sorted(names), sorted(names, key=isort_key))


def _resolves(module: types.ModuleType, name: str) -> bool:
    with warnings.catch_warnings():  # compatibility doors warn on first use of an old name
        warnings.simplefilter("ignore")
        return hasattr(module, name)


@pytest.mark.parametrize("name", PACKAGES)
def test_a_package_exports_exactly_the_public_names_it_binds(name: str) -> None:
    package = importlib.import_module(name)
    exported = list(getattr(package, "__all__", []))
    assert _is_sorted(exported), f"{name}.__all__ is not sorted"
    bound = _bound_public_names(package)
    assert not bound - set(exported), f"{name} binds public names missing from __all__: {sorted(bound - set(exported))}"
    assert not set(exported) - bound, f"{name}.__all__ lists names it does not bind: {sorted(set(exported) - bound)}"


@pytest.mark.parametrize("name", PACKAGES)
def test_a_package_exports_its_own_code(name: str) -> None:
    package = importlib.import_module(name)
    foreign = [
        f"{attr} (from {obj.__module__})"
        for attr in getattr(package, "__all__", [])
        if (inspect.isclass(obj := getattr(package, attr)) or inspect.isfunction(obj))
        and not obj.__module__.startswith(name.split(".")[0] + ".")
    ]
    assert not foreign, f"{name} re-exports another distribution's names: {foreign}"


@pytest.mark.parametrize("name", _public_modules())
def test_a_public_modules_all_is_sorted_and_every_name_resolves(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    if exported is None:
        return  # no declared surface: nothing to hold it to
    assert _is_sorted(list(exported)), f"{name}.__all__ is not sorted"
    missing = [attr for attr in exported if not _resolves(module, attr)]
    assert not missing, f"{name}.__all__ lists names that do not exist: {missing}"
    assert len(set(exported)) == len(exported), f"{name}.__all__ lists a name twice"


def test_the_walk_sees_the_public_modules() -> None:
    modules = _public_modules()
    assert {"esi.exceptions", "esi.signals", "esi.app_settings", "esi_tasks.tasks"} <= set(modules)
    assert not [m for m in modules if "._" in m or ".migrations" in m]


def test_the_version_is_the_installed_distributions() -> None:
    assert esi.__version__ == importlib.metadata.version("django-esi")
    assert esi.__title__ == "django-esi"
