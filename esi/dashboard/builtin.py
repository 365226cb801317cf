"""The panels ``esi`` itself brings: budgets, traffic, recent calls and failures, tokens.

Imported and registered by :func:`register_builtin` from ``EsiConfig.ready()`` (this module
imports models). Each reads what the product records anyway (the limiter's Redis state,
:mod:`esi.dashboard.counters`, the token table).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.db.models import Q
from django.dispatch import receiver
from django.utils import timezone

from esi.app_settings import esi_settings
from esi.client.limits import get_limiter
from esi.dashboard import readings
from esi.dashboard.counters import keys
from esi.dashboard.panels import Panel, iso, register, required_scopes
from esi.models import Token
from esi.redis_pool import REDIS_ERRORS, get_redis
from esi.signals import token_invalidated

__all__ = ["INVALIDATED_KEEP", "register_builtin"]

INVALIDATED_KEEP = 50
_INVALIDATED = keys.base + "invalidated"
_TOKEN_ROWS = 100


def _limits() -> dict[str, Any]:
    return get_limiter().snapshot()


def error_limit() -> dict[str, Any]:
    snap = _limits()
    e = snap.get("error_limit") or {}
    down = snap.get("downtime") or {}
    return {
        "enabled": snap.get("enabled", False),
        "remain": e.get("remain"),
        "limit": e.get("limit"),
        "threshold": e.get("threshold"),
        "reset_in": e.get("reset_in"),
        "in_flight": e.get("in_flight"),
        "paused": e.get("paused", False),
        "paused_for": e.get("paused_for"),
        "reason": e.get("reason"),
        "downtime": down.get("start"),
        "downtime_active": down.get("active", False),
    }


def rate_limits() -> dict[str, Any]:
    rows = []
    for g in _limits().get("groups", []):
        max_tokens = g.get("max_tokens")
        rows.append(
            {
                "label": f"{g['group']} / {g['identity']}",
                "used": g["used"],
                "max": max_tokens,
                "remaining": g.get("remaining"),
                "detail": (f"all back in {g['full_in']:.0f} s" if g.get("full_in") else "full")
                + (f", PAUSED {g['paused_for']:.0f} s (429)" if g.get("paused_for") else ""),
            }
        )
    rows.sort(key=lambda r: (r["remaining"] / r["max"]) if r["max"] else 1.0)  # closest to empty first
    return {"rows": rows, "empty": "No rate-limit group used in its current window."}


def traffic() -> dict[str, Any]:
    rows = readings.last_hour()
    return {
        "x": [iso(r["minute"]) for r in rows],
        "series": {
            "requests": [r["requests"] for r in rows],
            "cache hits": [r["hit"] for r in rows],
            "304s": [r["not_modified"] for r in rows],
            "errors": [r["errors"] for r in rows],
            "limited": [r["limited"] for r in rows],
        },
        "totals": {
            "requests": sum(r["requests"] for r in rows),
            "cache hits": sum(r["hit"] for r in rows),
            "304s": sum(r["not_modified"] for r in rows),
            "errors": sum(r["errors"] for r in rows),
            "limited": sum(r["limited"] for r in rows),
        },
    }


def recent() -> dict[str, Any]:
    rows = [
        [iso(c.get("at")), c.get("operation"), c.get("character_id"), c.get("status"), c.get("ms"), _source(c)]
        for c in readings.recent(25)
    ]
    columns = ["time", "operation", "character", "status", "ms", "served"]
    return {"columns": columns, "rows": rows, "empty": "No ESI call recorded yet."}


def _source(call: dict[str, Any]) -> str:
    return {"hit": "cache", "not_modified": "304 (stored body)", "limited": "held back"}.get(
        call.get("outcome") or "", "ESI"
    )


def failures() -> dict[str, Any]:
    rows = [
        [iso(c.get("at")), c.get("operation"), c.get("character_id"), c.get("status"), c.get("error"), c.get("message")]
        for c in readings.failures(25)
    ]
    columns = ["time", "operation", "character", "status", "error", "message"]
    return {"columns": columns, "rows": rows, "empty": "No failure recorded."}


def tokens() -> dict[str, Any]:
    """Tokens that will not work as they are: invalidated, unrefreshable, stale, short of scopes."""
    rows: list[list[Any]] = []
    try:
        for raw in get_redis().lrange(_INVALIDATED, 0, INVALIDATED_KEEP - 1):
            item = json.loads(raw)
            rows.append([item.get("character_id"), None, f"deleted: {item.get('reason')}", iso(item.get("at"))])
    except REDIS_ERRORS as exc:
        rows.append([None, None, f"Redis unavailable: {exc} (invalidated tokens not shown)", None])
    stale_before = timezone.now() - dt.timedelta(seconds=esi_settings.ESI_TOKEN_VALIDATION_PERIOD)
    base = Token.objects.order_by("character_name")
    unrefreshable = Q(refresh_token="") | Q(refresh_token__isnull=True)
    for token in base.filter(unrefreshable).only("character_id", "character_name", "updated")[:_TOKEN_ROWS]:
        problem = "no refresh token: cannot be refreshed"
        rows.append([token.character_id, token.character_name, problem, iso(token.updated)])
    stale = base.filter(access_token_expires__lt=stale_before).exclude(unrefreshable)
    for token in stale.only("character_id", "character_name", "access_token_expires")[:_TOKEN_ROWS]:
        rows.append(
            [
                token.character_id,
                token.character_name,
                "not refreshed within ESI_TOKEN_VALIDATION_PERIOD",
                iso(token.access_token_expires),
            ]
        )
    needs = required_scopes()
    if needs:
        held: dict[int, tuple[str, set[str]]] = {}
        for character_id, name, scope in base.values_list("character_id", "character_name", "scopes__name")[:10_000]:
            entry = held.setdefault(character_id, (name, set()))
            if scope:
                entry[1].add(scope)
        for character_id, (name, scopes) in sorted(held.items(), key=lambda kv: kv[1][0]):
            for app, wanted in sorted(needs.items()):
                missing = sorted(wanted - scopes)
                if missing:
                    rows.append([character_id, name, f"{app} needs {', '.join(missing)}", None])
    return {
        "columns": ["character", "name", "problem", "since"],
        "rows": rows,
        "empty": "Every token is usable.",
        "total": base.count(),
    }


@receiver(token_invalidated, dispatch_uid="esi.dashboard.token_invalidated")
def _remember_invalidated(
    sender: Any, token_id: int | None = None, character_id: int | None = None, reason: str | None = None, **kwargs: Any
) -> None:
    """Keep the last invalidated tokens for the tokens panel (their rows are gone)."""
    item = {"token_id": token_id, "character_id": character_id, "reason": reason, "at": timezone.now().timestamp()}
    try:
        pipe = get_redis().pipeline(transaction=False)
        pipe.lpush(_INVALIDATED, json.dumps(item))
        pipe.ltrim(_INVALIDATED, 0, INVALIDATED_KEEP - 1)
        pipe.execute()
    except REDIS_ERRORS:
        pass  # bookkeeping: the token is deleted either way


def register_builtin() -> None:
    for panel in (
        Panel(
            "error_limit",
            "Error limit",
            "budget",
            error_limit,
            10,
            "ESI's error budget as every process shares it; nothing is sent at the threshold.",
        ),
        Panel(
            "traffic",
            "Calls per minute, last hour",
            "chart",
            traffic,
            20,
            "Requests sent to ESI, calls served from the cache, 304s, errors and calls held back by a limit.",
        ),
        Panel(
            "rate_limits",
            "Rate-limit groups",
            "bars",
            rate_limits,
            30,
            "Tokens used per group and identity in the current window, closest to exhaustion first.",
        ),
        Panel("recent", "Recent calls", "table", recent, 60),
        Panel("failures", "Recent failures", "table", failures, 70),
        Panel("tokens", "Tokens needing attention", "table", tokens, 80),
    ):
        register(panel)
