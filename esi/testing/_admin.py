"""Server side of the ``/_sim/...`` control API (the Python side is :mod:`esi.testing._control`).

Every action takes a JSON object and answers ``(status, JSON)``; bad input gets 400 with an
``error`` saying what was wrong.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from esi.testing._faults import OPTIONS
from esi.testing._limits import ErrorLimit
from esi.testing._sso import SsoError

if TYPE_CHECKING:
    from esi.testing._app import Simulator

__all__ = ["handle_control"]


def _require(args: dict[str, Any], *names: str) -> list[Any]:
    missing = [n for n in names if n not in args]
    if missing:
        raise ValueError(f"Missing argument(s): {', '.join(missing)}.")
    return [args[n] for n in names]


def _scopes(value: Any, what: str = "scopes") -> list[str]:
    if isinstance(value, str):
        return value.split()
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise ValueError(f"{what} must be a list of names.")
    return value


def _configure_route(sim: Simulator, args: dict[str, Any]) -> dict[str, Any]:
    (route,) = _require(args, "route")
    options = {k: v for k, v in args.items() if k != "route"}
    known = {"*"} | set(sim.views.view(sim.views.newest).router.routes)
    for date in sim.views.breakpoints:
        known |= set(sim.views.view(date).router.routes)
    known |= {"SsoMetadata", "SsoAuthorize", "SsoToken", "SsoRevoke", "SsoJwks", "GetMetaOpenapi"}
    if route not in known:
        raise ValueError(f"Unknown route {route!r}: use an operationId (e.g. 'GetStatus') or '*'.")
    sim.configs.configure(route, options)
    sim.bodies.clear()
    return {"route": route, "options": sim.configs.raw().get(route, {})}


def _set_error_limit(sim: Simulator, args: dict[str, Any]) -> dict[str, Any]:
    limit, window = int(args.get("limit", 100)), float(args.get("window", 60))
    if limit < 1 or window <= 0:
        raise ValueError("limit must be >= 1 and window > 0.")
    sim.error_limit = ErrorLimit(limit, window)
    return {"limit": limit, "window": window}


def _set_downtime(sim: Simulator, args: dict[str, Any]) -> dict[str, Any]:
    (seconds,) = _require(args, "seconds")
    sim.downtime_until = time.monotonic() + float(seconds) if float(seconds) > 0 else 0.0
    return {"seconds": float(seconds)}


def _set_client(sim: Simulator, args: dict[str, Any]) -> dict[str, Any]:
    client_id = args.get("client_id")
    if client_id is None:
        sim.sso.client = None
        return {"client_id": None}
    (secret,) = _require(args, "secret")
    sim.sso.client = (str(client_id), str(secret), args.get("redirect_uri"))
    return {"client_id": client_id, "redirect_uri": args.get("redirect_uri")}


def _dispatch(sim: Simulator, action: str, args: dict[str, Any], query: dict[str, str]) -> Any:
    sso = sim.sso
    if action == "reset":
        sim.reset()
        return {"ok": True}
    if action == "add_character":
        (character_id,) = _require(args, "character_id")
        char = sso.add_character(character_id, args.get("name"), args.get("owner_hash"), args.get("corporation_id"))
        sim.bodies.clear()  # names and affiliations in cached bodies may have changed
        return asdict(char)
    if action == "set_roles":
        (character_id,) = _require(args, "character_id")
        roles = args.get("roles")
        sso.character(character_id).roles = None if roles is None else _scopes(roles, "roles")
        return {"character_id": int(character_id), "roles": roles}
    if action == "set_login":
        (character_id,) = _require(args, "character_id")
        sso.character(character_id)
        scopes = args.get("scopes")
        sso.login = (int(character_id), None if scopes is None else _scopes(scopes))
        return {"character_id": int(character_id), "scopes": scopes}
    if action == "issue_tokens":
        character_id, scopes = _require(args, "character_id", "scopes")
        return sso.issue(int(character_id), _scopes(scopes), args.get("client_id"), int(args.get("expires_in", 1199)))
    if action == "accept_refresh_token":
        token, character_id, scopes = _require(args, "refresh_token", "character_id", "scopes")
        sso.accept_refresh_token(str(token), int(character_id), _scopes(scopes))
        return {"ok": True}
    if action == "revoke_refresh_token":
        (token,) = _require(args, "refresh_token")
        return {"revoked": sso.revoke(str(token))}
    if action == "change_owner":
        (character_id,) = _require(args, "character_id")
        return {"owner_hash": sso.change_owner(int(character_id))}
    if action == "rotate_signing_key":
        return {"kid": sso.rotate_signing_key(str(args.get("alg", "RS256")), bool(args.get("keep_old", True)))}
    if action == "configure_route":
        return _configure_route(sim, args)
    if action == "set_error_limit":
        return _set_error_limit(sim, args)
    if action == "set_downtime":
        return _set_downtime(sim, args)
    if action == "set_client":
        return _set_client(sim, args)
    if action == "stats":
        return sim.observations.stats(sso.counters)
    if action == "request_log":
        return sim.observations.entries(query.get("route") or args.get("route"))
    if action == "config":
        return {"routes": sim.configs.raw(), "options": list(OPTIONS), "base_url": sim.base_url}
    if action == "ping":
        return {"ok": True, "base_url": sim.base_url}
    raise LookupError(f"Unknown control action {action!r}.")


async def handle_control(sim: Simulator, method: str, action: str, query: str, body: bytes) -> tuple[int, Any]:
    """Run one control action; -> (HTTP status, JSON payload)."""
    try:
        args = json.loads(body) if body else {}
        if not isinstance(args, dict):
            raise ValueError("The request body must be a JSON object.")
        return 200, _dispatch(sim, action, args, dict(parse_qsl(query)))
    except LookupError as exc:
        return 404, {"error": str(exc)}
    except SsoError as exc:
        return 400, {"error": exc.description}
    except (ValueError, TypeError) as exc:
        return 400, {"error": str(exc)}
