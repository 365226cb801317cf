"""One ESI request, from headers to (status, headers, body): views, limits, auth, pages, caching.

The order follows ESI: error limit (420) and downtime first, then routing, rate limit, faults,
authentication, parameters, and finally the (cached) body with its caching headers.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import math
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from esi.testing._bodies import etag_of, generate
from esi.testing._faults import ERROR_BODIES, ERROR_LIMIT_TEXT, RouteConfig
from esi.testing._limits import RateBucket, token_cost
from esi.testing._paging import cursor_body, from_id_body
from esi.testing._routes import OLDEST_DATE, Route
from esi.testing._sso import SsoError

if TYPE_CHECKING:
    from esi.testing._app import Simulator

__all__ = ["Answer", "handle_esi"]

Headers = list[tuple[bytes, bytes]]
_JSON = (b"content-type", b"application/json; charset=utf-8")
_LANGUAGES = {"en", "de", "fr", "ja", "ru", "zh", "ko", "es"}
_SKIP_SEED = {"page", "before", "after", "limit", "from_id", "last_mail_id"}


@dataclass
class Answer:
    """What to send back; ``action`` is "hang" or "drop" for faults that send no response."""

    status: int
    headers: Headers
    body: bytes
    operation: str | None = None
    character_id: int | None = None
    action: str | None = None
    hang_seconds: float = 0.0
    finished: bool = False


def _error(status: int, message: str | None = None, extra: Headers | None = None, **more: Any) -> Answer:
    payload = dict(ERROR_BODIES.get(status, {"error": "Error"}))
    if message is not None:
        payload["error"] = message
    payload.update(more)
    return Answer(status, [_JSON, *(extra or [])], json.dumps(payload).encode())


def http_date(ts: float) -> bytes:
    return _http_date(int(ts))


@lru_cache(maxsize=256)
def _http_date(ts: int) -> bytes:
    return email.utils.formatdate(ts, usegmt=True).encode()


async def handle_esi(
    sim: Simulator, method: str, path: str, query: str, headers: dict[bytes, bytes], client: str, body: bytes
) -> Answer:
    """Answer one ESI request. Answers not marked ``finished`` still owe the error-limit bookkeeping."""
    now = time.monotonic()
    if sim.error_limit.exhausted(now):
        retry = str(sim.error_limit.reset_in(now)).encode()
        return Answer(
            420,
            [(b"content-type", b"text/plain; charset=utf-8"), (b"retry-after", retry)],
            (ERROR_LIMIT_TEXT + "Wait for the error limit window to end.").encode(),
        )
    if sim.downtime_until > now:
        return _error(503, extra=[(b"retry-after", str(math.ceil(sim.downtime_until - now)).encode())])
    qs = dict(parse_qsl(query, keep_blank_values=True)) if query else {}
    date = headers.get(b"x-compatibility-date", b"").decode() or qs.pop("compatibility_date", "") or OLDEST_DATE
    qs.pop("compatibility_date", None)
    problem = sim.date_problem(date)
    if problem:
        return _error(400, problem)
    view = sim.views.view(date)
    if path == "/meta/openapi.json":
        refused = sim.configs.get("GetMetaOpenapi", inherit=False).status  # configure_route(..., status=503)
        if refused is not None and refused >= 400:
            answer = _error(refused)
        else:
            answer = Answer(200, [_JSON, (b"x-compatibility-date", view.date.encode())], view.document)
        answer.operation = "GetMetaOpenapi"
        return answer
    route, values, other = view.router.match("GET" if method == "HEAD" else method, path)
    if route is None:
        if other:
            return _error(405, f"Method {method} is not allowed on {path}.")
        return _error(404, f"Route {method} {path} does not exist as of compatibility date {date}.")
    answer = await _route(sim, route, values, qs, headers, client, body, method)
    answer.operation = route.operation
    answer.headers.append((b"x-compatibility-date", route.compatibility_date.encode()))
    return answer


async def _route(
    sim: Simulator,
    route: Route,
    values: dict[str, str],
    qs: dict[str, str],
    headers: dict[bytes, bytes],
    client: str,
    body: bytes,
    method: str,
) -> Answer:
    config = sim.configs.get(route.operation)
    claims: dict[str, Any] | None = None
    auth_error: SsoError | None = None
    if route.scopes:
        claims, auth_error = _authenticate(sim, headers)
    character_id = _character(claims)
    bucket = _bucket(sim, route, config, claims, client)
    now = time.monotonic()
    if bucket is not None and bucket.remaining(now) <= 0:
        retry = str(config.retry_after or bucket.retry_after(now)).encode()
        answer = _error(429, f"Rate limit exceeded for group {bucket.group}.", [(b"retry-after", retry)])
        return _finish(sim, answer, bucket, character_id)
    if config.latency or config.latency_jitter:
        await asyncio.sleep((config.latency or 0.0) + sim.configs.rng.uniform(0, config.latency_jitter or 0.0))
    if config.hang:
        seconds = 3600.0 if config.hang is True else float(config.hang)
        hung = _finish(sim, Answer(504, [], b""), bucket, character_id)  # a timeout counts as an error
        hung.action, hung.hang_seconds = "hang", seconds
        return hung
    if config.drop:
        return Answer(0, [], b"", character_id=character_id, action="drop", finished=True)
    forced = config.status
    if forced is None and config.error_rate and sim.configs.rng.random() < config.error_rate:
        forced = sim.configs.rng.choice(config.error_statuses or (500, 502, 503, 504))
    if forced is not None and forced >= 400:
        extra = [(b"retry-after", str(config.retry_after).encode())] if config.retry_after is not None else []
        if forced in (403, 404) and config.cache_seconds:  # as ESI: an error says how long it holds
            extra.append((b"expires", http_date(time.time() + config.cache_seconds)))
        if forced == 420:
            answer = Answer(420, [(b"content-type", b"text/plain; charset=utf-8"), *extra], ERROR_LIMIT_TEXT.encode())
        else:
            answer = _error(forced, extra=extra)
        return _finish(sim, answer, bucket, character_id)
    if route.scopes:
        problem = auth_error or _authorise(sim, route, values, claims)
        if problem is not None:
            return _finish(sim, _error(problem.status, problem.description), bucket, character_id)
    answer = _body(sim, route, config, values, qs, headers, body, method)
    if config.malformed and answer.status == 200:
        answer.body = answer.body[: max(1, len(answer.body) // 2)] + b"<html>502 Bad Gateway"
    return _finish(sim, answer, bucket, character_id)


def _authenticate(sim: Simulator, headers: dict[bytes, bytes]) -> tuple[dict[str, Any] | None, SsoError | None]:
    value = headers.get(b"authorization", b"").decode("latin-1")
    if not value.lower().startswith("bearer "):
        return None, SsoError("unauthorized", "Authentication required: send Authorization: Bearer <token>.", 401)
    try:
        return sim.sso.verify(value[7:].strip()), None
    except SsoError as exc:
        return None, exc


def _character(claims: dict[str, Any] | None) -> int | None:
    if not claims:
        return None
    try:
        return int(str(claims.get("sub", "")).rsplit(":", 1)[-1])
    except ValueError:
        return None


def _authorise(sim: Simulator, route: Route, values: dict[str, str], claims: dict[str, Any] | None) -> SsoError | None:
    assert claims is not None
    granted = claims.get("scp", [])
    granted = {granted} if isinstance(granted, str) else set(granted)
    missing = [s for s in route.scopes if s not in granted]
    if missing:
        return SsoError("forbidden", f"Token is not valid for scope(s): {', '.join(missing)}.", 403)
    if "character_id" in values and values["character_id"] != str(_character(claims)):
        return SsoError(
            "forbidden", "Token is not valid for this character: character_id differs from the token's.", 403
        )
    char = sim.sso.characters.get(_character(claims) or 0)
    if char is None:
        return None
    if "corporation_id" in values and values["corporation_id"] != str(char.corporation_id):
        return SsoError("forbidden", f"Character {char.character_id} is not a member of this corporation.", 403)
    if route.roles and char.roles is not None and not set(route.roles) & set(char.roles):
        return SsoError("forbidden", f"Character does not have required role(s): {', '.join(route.roles)}.", 403)
    return None


def _bucket(
    sim: Simulator, route: Route, config: RouteConfig, claims: dict[str, Any] | None, client: str
) -> RateBucket | None:
    if config.rate_limit is not None:
        max_tokens, window = config.rate_limit
        group = route.rate_group or route.operation
    elif route.rate_group is not None:
        assert route.rate_max is not None and route.rate_window is not None
        group, max_tokens, window = route.rate_group, route.rate_max, route.rate_window
    else:
        return None
    caller = f"{claims.get('azp')}:{_character(claims)}" if claims else f"ip:{client}"
    return sim.rates.bucket(group, caller, max_tokens, window)


def _finish(sim: Simulator, answer: Answer, bucket: RateBucket | None, character_id: int | None) -> Answer:
    now = time.monotonic()
    answer.character_id = character_id
    answer.finished = True
    if bucket is not None:
        cost = token_cost(answer.status)
        bucket.spend(cost, now)
        answer.headers.extend(bucket.headers(cost, now))
    else:
        sim.error_limit.record(answer.status, now)
        answer.headers.extend(sim.error_limit.headers(now))
    return answer


def _params(route: Route, values: dict[str, str], qs: dict[str, str]) -> tuple[dict[str, Any], str | None]:
    params: dict[str, Any] = {}
    for p in route.path_params:
        raw = values.get(p.name, "")
        if p.type == "integer":
            try:
                params[p.name] = int(raw)
            except ValueError:
                return params, f"Path parameter {p.name} must be an integer, not {raw!r}."
        else:
            params[p.name] = raw
    for p in route.query_params:
        if p.name not in qs:
            if p.required and p.default is None:
                return params, f"Query parameter {p.name} is required."
            if p.default is not None and p.name not in _SKIP_SEED:
                params[p.name] = p.default
            continue
        raw = qs[p.name]
        value: Any = raw
        if p.type == "integer":
            try:
                value = int(raw)
            except ValueError:
                return params, f"Query parameter {p.name} must be an integer, not {raw!r}."
        elif p.type == "boolean":
            if raw not in ("true", "false"):
                return params, f"Query parameter {p.name} must be true or false, not {raw!r}."
            value = raw == "true"
        if p.enum is not None and value not in p.enum:
            return params, f"Query parameter {p.name} must be one of {list(p.enum)}, not {raw!r}."
        params[p.name] = value
    return params, None


def _body(
    sim: Simulator,
    route: Route,
    config: RouteConfig,
    values: dict[str, str],
    qs: dict[str, str],
    headers: dict[bytes, bytes],
    body: bytes,
    method: str,
) -> Answer:
    params, problem = _params(route, values, qs)
    if problem:
        return _error(400, problem)
    language = headers.get(b"accept-language", b"en").decode("latin-1").split(",")[0].split(";")[0].strip()
    language = language if language in _LANGUAGES else "en"
    version = config.body_version or 0
    extra: Headers = [(b"content-language", language.encode())]
    seed = {k: v for k, v in params.items() if k not in _SKIP_SEED}
    payload: Any = None
    if "requestBody" in route.spec:
        try:
            payload = json.loads(body) if body else None
        except ValueError:
            return _error(400, "The request body is not valid JSON.")
        if payload is None and route.spec["requestBody"].get("required"):
            return _error(400, f"{route.operation} needs a JSON request body.")
        seed["__body__"] = body.decode("utf-8", "replace")
    items = (config.items, config.items) if config.items is not None else (1, 5)
    if config.items is not None:
        seed["__items__"] = config.items
    if route.pagination == "pages":
        pages = max(1, config.pages or 1)
        page = params.get("page", 1)
        if page < 1 or page > pages:
            return _error(404, f"Requested page {page} does not exist: X-Pages is {pages}.")
        extra.append((b"x-pages", str(pages).encode()))
        key: Any = (route.operation, route.compatibility_date, tuple(sorted(seed.items())), version, page, language)
        cached = sim.bodies.get(key) or sim.bodies.put(
            key, generate(route, {**seed, "page": page}, version=version, language=language, items=items)
        )
    elif route.pagination in ("cursor", "from_id"):
        walk = cursor_body if route.pagination == "cursor" else from_id_body
        result = walk(sim.bodies, route, config, seed, params, version)
        if isinstance(result, str):
            return _error(400, result)
        cached = result
    else:
        key = (route.operation, route.compatibility_date, tuple(sorted(seed.items())), version, 0, language)
        hit = sim.bodies.get(key)
        if hit is None:
            hit = sim.bodies.put(key, sim.special_body(route, seed, version, language, items, payload))
        cached = hit
    if config.body is not None:  # a test's own body (its ETag changes with it, as ESI's would)
        fixed = json.dumps(config.body, separators=(",", ":")).encode()
        cached = (fixed, etag_of(fixed))
    if route.success_status == 204:
        return Answer(204, extra, b"")
    data, etag = cached
    if method not in ("GET", "HEAD"):
        return Answer(route.success_status, [_JSON, *extra], data)
    cache_age = config.cache_seconds if config.cache_seconds is not None else route.cache_age
    snap_key = (route.operation, tuple(sorted(seed.items())), version)
    wall = time.time()
    first = sim.snapshots.get(snap_key)
    if first is None:
        if len(sim.snapshots) > 100_000:
            sim.snapshots.clear()
        first = sim.snapshots[snap_key] = wall
    if cache_age:
        last_modified = first + ((wall - first) // cache_age) * cache_age
        expires = last_modified + cache_age
        extra += [
            (b"cache-control", f"public, max-age={max(0, int(expires - wall))}".encode()),
            (b"expires", http_date(expires)),
        ]
    else:
        last_modified = first
        extra += [(b"cache-control", b"no-cache"), (b"expires", http_date(wall))]
    extra += [(b"etag", etag.encode()), (b"last-modified", http_date(last_modified))]
    if _not_modified(headers, etag, last_modified):
        return Answer(304, extra, b"")
    return Answer(200, [_JSON, *extra], data)


def _not_modified(headers: dict[bytes, bytes], etag: str, last_modified: float) -> bool:
    match = headers.get(b"if-none-match")
    if match is not None:
        tags = {t.strip().removeprefix("W/") for t in match.decode("latin-1").split(",")}
        return etag in tags or "*" in tags
    since = headers.get(b"if-modified-since")
    if since is not None:
        try:
            return email.utils.parsedate_to_datetime(since.decode("latin-1")).timestamp() >= int(last_modified)
        except (TypeError, ValueError):
            return False
    return False
