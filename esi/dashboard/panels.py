"""The dashboard's panel registry: each panel is a title, a kind and a function returning JSON.

``esi`` registers its own panels (:mod:`esi.dashboard.builtin`); other apps add theirs from
their ``AppConfig.ready()`` (``esi_tasks`` does: queues, workers, keep-fresh chains, sweeps)::

    from esi.dashboard.panels import Panel, register
    register(Panel("my_queue", "My queue", "stats", build=lambda: {"items": [...]}))

A panel's ``build`` returns the data its ``kind`` is drawn from (``docs/operating.md``):

``budget``  ``{"remain", "limit", "threshold", "reset_in", "in_flight", "paused", "reason", ...}``
``bars``    ``{"rows": [{"label", "used", "max", "remaining", "detail"}]}`` (closest to empty first)
``chart``   ``{"x": [ISO times], "series": {name: [numbers]}}``
``table``   ``{"columns": [names], "rows": [[cells]], "empty": "text when there are no rows"}``
``stats``   ``{"items": [[label, value], ...]}``

Whatever ``build`` raises becomes the panel's one-line error ("Redis unavailable: ..."), so one
broken source never takes the page down.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from esi.exceptions import RedisUnavailable
from esi.redis_pool import REDIS_ERRORS

__all__ = [
    "KINDS",
    "Panel",
    "SourceUnavailable",
    "collect",
    "iso",
    "panels",
    "register",
    "require_scopes",
    "required_scopes",
    "unregister",
]

logger = logging.getLogger(__name__)

KINDS = frozenset({"budget", "bars", "chart", "table", "stats"})


@dataclass(frozen=True)
class Panel:
    """One box of the dashboard; ``order`` sorts the page (lower first)."""

    name: str
    title: str
    kind: str
    build: Callable[[], Any]
    order: int = 100
    help: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Panel {self.name!r}: kind must be one of {', '.join(sorted(KINDS))}; got {self.kind!r}.")


class SourceUnavailable(Exception):
    """Raised by a panel whose source does not answer: shown as ``"<source> unavailable: <detail>"``."""

    def __init__(self, source: str, detail: str) -> None:
        super().__init__(f"{source} unavailable: {detail}")


_lock = threading.Lock()
_panels: dict[str, Panel] = {}
_scopes: dict[str, frozenset[str]] = {}


def register(panel: Panel) -> Panel:
    """Add (or replace, by name) a panel."""
    with _lock:
        _panels[panel.name] = panel
    return panel


def unregister(name: str) -> None:
    with _lock:
        _panels.pop(name, None)


def panels() -> list[Panel]:
    """Every registered panel, in page order."""
    with _lock:
        return sorted(_panels.values(), key=lambda p: (p.order, p.name))


def require_scopes(app: str, scopes: Iterable[str]) -> None:
    """Declare scopes ``app`` needs from every character's token: the tokens panel lists the
    characters whose tokens lack one of them."""
    with _lock:
        _scopes[app] = frozenset(scopes)


def required_scopes() -> dict[str, frozenset[str]]:
    with _lock:
        return dict(_scopes)


def iso(value: float | dt.datetime | None) -> str | None:
    """A UNIX time or an aware datetime as ISO 8601 in UTC (the one time form of the feed)."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        stamp = value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)
    else:
        stamp = dt.datetime.fromtimestamp(value, dt.UTC)
    return stamp.isoformat(timespec="seconds").replace("+00:00", "Z")


def _problem(exc: BaseException) -> str:
    """The one line a panel shows instead of its data."""
    if isinstance(exc, SourceUnavailable):
        return str(exc)
    if isinstance(exc, (RedisUnavailable, *REDIS_ERRORS)):
        return f"Redis unavailable: {exc}"
    module = type(exc).__module__
    if module.startswith(("kombu", "amqp", "celery")):
        return f"Broker unavailable: {type(exc).__name__}: {exc}"
    return f"{type(exc).__name__}: {exc}"


def collect(selected: Iterable[Panel] | None = None) -> list[dict[str, Any]]:
    """Every panel's data, or its problem in one line; never raises for a panel's sake."""
    out = []
    for panel in panels() if selected is None else selected:
        entry: dict[str, Any] = {"name": panel.name, "title": panel.title, "kind": panel.kind, "help": panel.help}
        try:
            entry["data"] = panel.build()
            entry["ok"] = True
        except Exception as exc:
            logger.info("dashboard panel %s: %s", panel.name, exc)
            entry["ok"] = False
            entry["error"] = _problem(exc)
        out.append(entry)
    return out
