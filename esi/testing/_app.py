"""The simulator as one raw ASGI application: ESI routes, SSO endpoints and ``/_sim/`` control.

All state lives in this one process (one event loop, no locks needed). Slow answers (latency,
hang) are ``await``-ed, so they never block other requests.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from esi.testing._admin import handle_control
from esi.testing._bodies import BodyCache, generate
from esi.testing._esi import Answer, handle_esi, http_date
from esi.testing._faults import ERROR_BODIES, RouteConfigs
from esi.testing._limits import ErrorLimit, RateLimits
from esi.testing._routes import Route, check_date, load_views
from esi.testing._sso import Sso
from esi.testing._state import Observations

__all__ = ["Simulator"]

logger = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
_SSO_PATHS = {
    "/.well-known/oauth-authorization-server": "SsoMetadata",
    "/v2/oauth/authorize": "SsoAuthorize",
    "/v2/oauth/authorize/": "SsoAuthorize",  # django-esi 10's login URL (the real SSO answers both)
    "/v2/oauth/token": "SsoToken",
    "/v2/oauth/revoke": "SsoRevoke",
    "/oauth/jwks": "SsoJwks",
}
_SERVER = (b"server", b"esi-simulator")
_ID_RANGES = (
    (500_000, 1_000_000, "faction"),
    (1_000_000, 2_000_000, "corporation"),
    (3_000_000, 4_000_000, "character"),
    (10_000_000, 20_000_000, "region"),
    (20_000_000, 30_000_000, "constellation"),
    (30_000_000, 40_000_000, "solar_system"),
    (60_000_000, 64_000_000, "station"),
    (90_000_000, 98_000_000, "character"),
    (98_000_000, 99_000_000, "corporation"),
    (99_000_000, 100_000_000, "alliance"),
    (0, 500_000, "inventory_type"),
)


class Simulator:
    """All state of one simulated ESI + SSO, and the ASGI entry point that serves it."""

    def __init__(self, base_url: str, spec_files: tuple[str, ...] = ()) -> None:
        self.base_url = base_url.rstrip("/")
        self.views = load_views(*spec_files)
        scopes: set[str] = set()
        for doc in self.views.documents:
            flows = doc["components"]["securitySchemes"]["OAuth2"]["flows"]
            scopes.update(flows["authorizationCode"]["scopes"])
        self.sso = Sso(self.base_url, scopes)
        self.configs = RouteConfigs()
        self.error_limit = ErrorLimit()
        self.rates = RateLimits()
        self.observations = Observations()
        self.bodies = BodyCache()
        self.snapshots: dict[Any, float] = {}
        self.downtime_until = 0.0
        self.started = dt.datetime.now(dt.UTC).replace(microsecond=0)
        self._dates: dict[str, str | None] = {}

    def reset(self) -> None:
        """Forget all state, faults, counters and characters except the defaults."""
        self.sso.reset()
        self.configs.clear()
        self.error_limit = ErrorLimit()
        self.rates.clear()
        self.observations.clear()
        self.bodies.clear()
        self.snapshots.clear()
        self.downtime_until = 0.0

    def date_problem(self, date: str) -> str | None:
        """Cached check of an ``X-Compatibility-Date`` value (cache dropped when the day rolls)."""
        if date not in self._dates:
            if len(self._dates) > 1000:
                self._dates.clear()
            self._dates[date] = check_date(date)
        problem = self._dates[date]
        if problem is None and date > dt.datetime.now(dt.UTC).date().isoformat():
            self._dates.clear()
            return self.date_problem(date)
        return problem

    def special_body(
        self, route: Route, seed: dict[str, Any], version: int, language: str, items: tuple[int, int], payload: Any
    ) -> Any:
        """Bodies with meaning (status, meta, names of known characters); the rest is generated."""
        if route.operation == "GetStatus":
            return {
                "players": 20000 + 37 * version,
                "server_version": f"{2_900_000 + version}",
                "start_time": self.started.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        if route.operation == "GetMetaCompatibilityDates":
            return {"compatibility_dates": self.views.valid_dates()}
        if route.operation == "GetMetaStatus":
            view = self.views.view(self.views.newest)
            routes = []
            for r in sorted(view.router.routes.values(), key=lambda r: (r.path, r.method)):
                config = self.configs.get(r.operation)
                down = self.downtime_until > time.monotonic() or (config.status or 0) >= 500
                status = "Down" if down else ("Degraded" if config.error_rate or config.latency else "OK")
                routes.append({"method": r.method, "path": r.path, "status": status})
            return {"routes": routes}
        data = generate(route, seed, version=version, language=language, items=items)
        if route.operation == "PostUniverseNames" and isinstance(payload, list):
            return [self._name_of(i) for i in payload if isinstance(i, int)]
        if route.operation == "PostCharactersAffiliation" and isinstance(payload, list):
            return [self._affiliation(i) for i in payload if isinstance(i, int)]
        char = self.sso.characters.get(seed.get("character_id", 0))
        if char is not None and route.operation in ("GetCharactersCharacterId", "GetCharactersDetail"):
            data.update(name=char.name, corporation_id=char.corporation_id)
        return data

    def _affiliation(self, character_id: int) -> dict[str, Any]:
        """Known characters are in their configured corporation; others in a fixed one by id."""
        char = self.sso.characters.get(character_id)
        corporation_id = char.corporation_id if char else 98_000_000 + character_id % 1000
        return {"character_id": character_id, "corporation_id": corporation_id}

    def _name_of(self, entity: int) -> dict[str, Any]:
        char = self.sso.characters.get(entity)
        if char is not None:
            return {"id": entity, "name": char.name, "category": "character"}
        for low, high, category in _ID_RANGES:
            if low <= entity < high:
                return {"id": entity, "name": f"Simulated {category.replace('_', ' ')} {entity}", "category": category}
        return {"id": entity, "name": f"Simulated character {entity}", "category": "character"}

    # --- ASGI ---------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        method: str = scope["method"]
        headers = dict(scope["headers"])
        query = scope["query_string"].decode("latin-1")
        body = b""
        if method in ("POST", "PUT", "PATCH"):
            body = await _read_body(receive)
        if path.startswith("/_sim/"):
            status, payload = await handle_control(self, method, path[6:], query, body)
            await _send(send, status, [(b"content-type", b"application/json")], json.dumps(payload).encode())
            return
        sso = _SSO_PATHS.get(path)
        if sso is not None:
            await self._sso(sso, method, headers, query, body, send)
            return
        client = (scope.get("client") or ("unknown", 0))[0]
        try:
            answer = await handle_esi(self, method, path, query, headers, client, body)
        except Exception as exc:  # a simulator bug must still look like an ESI answer
            logger.exception("esi.testing failed on %s %s", method, path)
            payload = {"error": f"esi.testing simulator bug: {type(exc).__name__}: {exc}"}
            answer = Answer(500, [(b"content-type", b"application/json")], json.dumps(payload).encode())
        if not answer.finished:
            self.error_limit.record(answer.status)
            answer.headers.extend(self.error_limit.headers())
        self.observations.record(
            method,
            path,
            query,
            answer.operation,
            answer.status if not answer.action else 0,
            scope["headers"],
            answer.character_id,
        )
        if answer.action == "drop":
            await _drop(send)
            return
        if answer.action == "hang":
            if await _wait_disconnect(receive, answer.hang_seconds):
                return
            answer = Answer(504, [(b"content-type", b"application/json")], json.dumps(ERROR_BODIES[504]).encode())
        await _send(send, answer.status, answer.headers, answer.body)

    async def _sso(
        self, name: str, method: str, headers: dict[bytes, bytes], query: str, body: bytes, send: Send
    ) -> None:
        config = self.configs.get(name, inherit=False)  # "*" is for ESI routes; SSO is another service
        if config.latency:
            await asyncio.sleep(config.latency)
        if config.status and config.status >= 400:
            extra = [(b"retry-after", str(config.retry_after).encode())] if config.retry_after is not None else []
            payload = {"error": "temporarily_unavailable", "error_description": f"Simulated {config.status}."}
            await _send(
                send, config.status, [(b"content-type", b"application/json"), *extra], json.dumps(payload).encode()
            )
            return
        if name == "SsoMetadata":
            status, out_headers, out = self.sso.metadata()
        elif name == "SsoJwks":
            status, out_headers, out = self.sso.jwks()
        elif name == "SsoAuthorize":
            status, out_headers, out = self.sso.authorize(dict(parse_qsl(query, keep_blank_values=True)))
        else:
            if method != "POST":
                await _send(send, 405, [(b"content-type", b"application/json")], b'{"error":"invalid_request"}')
                return
            kind = headers.get(b"content-type", b"application/x-www-form-urlencoded")
            if not kind.startswith(b"application/x-www-form-urlencoded"):
                payload = {"error": "invalid_request", "error_description": "Send a form-encoded body, not JSON."}
                await _send(send, 400, [(b"content-type", b"application/json")], json.dumps(payload).encode())
                return
            form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
            if name == "SsoToken":
                status, out_headers, out = self.sso.token(headers, form)
            else:
                status, out_headers, out = self.sso.revoke_endpoint(headers, form)
        await _send(send, status, out_headers, out)


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


async def _send(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    # Date from the clock Expires was computed with (uvicorn's own Date is refreshed about once a
    # second, later on a busy machine: Expires - Date, the client's cache time, came out 62 s for 60)
    out = [_SERVER, (b"date", http_date(time.time())), *headers]
    if status not in (204, 304):
        out.append((b"content-length", str(len(body)).encode()))
    else:
        body = b""
    await send({"type": "http.response.start", "status": status, "headers": out})
    await send({"type": "http.response.body", "body": body})


async def _drop(send: Send) -> None:
    """Close the connection without an answer (uvicorn: abort its transport)."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is not None:
        transport.abort()
        await asyncio.sleep(0)
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"100")]})


async def _wait_disconnect(receive: Receive, seconds: float) -> bool:
    """Wait until the client gives up (True) or ``seconds`` pass (False)."""

    async def disconnected() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    try:
        await asyncio.wait_for(disconnected(), timeout=seconds)
    except TimeoutError:
        return False
    return True
