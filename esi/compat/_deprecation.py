"""Warn once per old name, naming the replacement (Django's deprecation style, at the edge)."""

from __future__ import annotations

import importlib
import threading
import warnings
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["RemovedInDjangoEsi12Warning", "legacy_getattr", "warn_once"]


class RemovedInDjangoEsi12Warning(DeprecationWarning):
    """A django-esi 10 name that goes away in django-esi 12; the message names the replacement."""


_warned: set[str] = set()
_lock = threading.Lock()


def warn_once(old: str, new: str, stacklevel: int = 3) -> None:
    """One ``DeprecationWarning`` per process for ``old``, saying to use ``new``."""
    with _lock:
        if old in _warned:
            return
        _warned.add(old)
    warnings.warn(
        f"{old} is kept for code written for django-esi 10; use {new} instead.",
        RemovedInDjangoEsi12Warning,
        stacklevel=stacklevel,
    )


def legacy_getattr(module: str, names: Mapping[str, tuple[str, str]]) -> Callable[[str], Any]:
    """A module ``__getattr__`` (PEP 562) serving old names: ``{old: ("pkg.mod:attr", replacement)}``.

    The target is imported only when the old name is first used, so the module that offers it
    never imports the compatibility layer by itself.
    """

    def __getattr__(name: str) -> Any:
        try:
            target, replacement = names[name]
        except KeyError:
            raise AttributeError(f"module {module!r} has no attribute {name!r}") from None
        warn_once(f"{module}.{name}", replacement)
        where, _, attr = target.partition(":")
        return getattr(importlib.import_module(where), attr or name)

    return __getattr__
