"""Per-route (or global ``"*"``) configuration: faults, cache time, pages, limits, body version or body.

A route's own options win over the global ones, option by option.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, fields
from typing import Any

__all__ = ["DEFAULT_ERROR_STATUSES", "ERROR_BODIES", "OPTIONS", "RouteConfig", "RouteConfigs"]

DEFAULT_ERROR_STATUSES = (500, 502, 503, 504)

ERROR_BODIES: dict[int, dict[str, Any]] = {
    400: {"error": "Bad request"},
    401: {"error": "Authentication failure"},
    403: {"error": "Forbidden"},
    404: {"error": "Not found"},
    429: {"error": "Too many requests"},
    500: {"error": "Internal server error"},
    502: {"error": "No reply within 10 seconds"},
    503: {"error": "The datasource tranquility is temporarily unavailable"},
    504: {"error": "Timeout contacting tranquility", "timeout": 10},
    520: {"error": "Internal error"},
}
ERROR_LIMIT_TEXT = "This software has exceeded the error limit for ESI. "


@dataclass(frozen=True)
class RouteConfig:
    """The effective options of one route (None = not set, use the default)."""

    error_rate: float | None = None
    error_statuses: tuple[int, ...] | None = None
    status: int | None = None
    latency: float | None = None
    latency_jitter: float | None = None
    hang: bool | float | None = None
    drop: bool | None = None
    malformed: bool | None = None
    cache_seconds: int | None = None
    pages: int | None = None
    rate_limit: tuple[int, float] | None = None
    retry_after: int | None = None
    body_version: int | None = None
    items: int | None = None
    body: Any = None  # JSON served instead of the generated body (every page of a paged route)


OPTIONS = tuple(f.name for f in fields(RouteConfig))
_EMPTY = RouteConfig()


def _normalise(options: dict[str, Any]) -> dict[str, Any]:
    unknown = set(options) - set(OPTIONS)
    if unknown:
        raise ValueError(f"Unknown route option(s) {sorted(unknown)}; valid options: {', '.join(OPTIONS)}.")
    out = dict(options)
    rate = out.get("rate_limit")
    if rate is not None:
        if not isinstance(rate, dict) or "max_tokens" not in rate or "window" not in rate:
            raise ValueError('rate_limit must look like {"max_tokens": 30, "window": 60}.')
        out["rate_limit"] = (int(rate["max_tokens"]), float(rate["window"]))
    if out.get("error_statuses") is not None:
        out["error_statuses"] = tuple(int(s) for s in out["error_statuses"])
    rate_share = out.get("error_rate")
    if rate_share is not None and not 0 <= float(rate_share) <= 1:
        raise ValueError(f"error_rate must be between 0 and 1, not {rate_share!r}.")
    return out


class RouteConfigs:
    """Stored options per route and their merged view, cached until the next change."""

    def __init__(self) -> None:
        self._raw: dict[str, dict[str, Any]] = {}
        self._merged: dict[str, RouteConfig] = {}
        self.rng = random.Random(0)

    def configure(self, route: str, options: dict[str, Any]) -> None:
        """Set options (a value of None removes that option)."""
        current = self._raw.setdefault(route, {})
        for key, value in _normalise(options).items():
            if value is None:
                current.pop(key, None)
            else:
                current[key] = value
        self._merged.clear()

    def get(self, operation: str, inherit: bool = True) -> RouteConfig:
        """Effective options of ``operation``; ``inherit=False`` ignores the global ``"*"`` ones."""
        key = operation if inherit else "!" + operation
        merged = self._merged.get(key)
        if merged is None:
            values = {**(self._raw.get("*", {}) if inherit else {}), **self._raw.get(operation, {})}
            merged = RouteConfig(**values) if values else _EMPTY
            self._merged[key] = merged
        return merged

    def raw(self) -> dict[str, dict[str, Any]]:
        return {k: dict(v) for k, v in self._raw.items()}

    def clear(self) -> None:
        self._raw.clear()
        self._merged.clear()
        self.rng = random.Random(0)
