"""One request of a prepared call: the cache, the limits, the exchange with retries, the store.

Two Redis round trips for an uncached call: the cache read with the limiter's acquire
(:func:`read_and_acquire`), then the settle with the cache write (:func:`record`); one for a hit
this process has seen fresh before. ``EsiClient.send`` calls :func:`send_once`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django.views.decorators.debug import sensitive_variables

from esi.client import limits as _limits
from esi.client._cache import NEGATIVE_STATUSES, CacheEntry
from esi.client._config import config
from esi.client._pagination import request_slot
from esi.client._prepared import PreparedCall
from esi.client._response import EsiResponse
from esi.client._retry import is_retry_safe
from esi.client._spec import Operation
from esi.client._transport import HttpAnswer
from esi.client.limits import Pending, Reservation, RoundTrip, pause_seconds
from esi.client.limits._rules import max_pause
from esi.exceptions import EsiErrorLimited, EsiRateLimited, EsiResponseError, EsiTransportError
from esi.redis_pool import REDIS_ERRORS

if TYPE_CHECKING:
    from esi.client._client import EsiClient

__all__ = ["budget", "from_entry", "read_and_acquire", "record", "response_error", "send_once"]

logger = logging.getLogger("esi.client")


def _pause(value: str | None) -> float:
    """A pause ESI asks for, capped at ``ESI_MAX_PAUSE``; a minute (capped too) when it names none."""
    wait = pause_seconds(value)
    return min(60.0, max_pause()) if wait is None else wait


@sensitive_variables()
def send_once(client: EsiClient, prepared: PreparedCall) -> EsiResponse:
    """One request of ``prepared``: the cache read (with the acquire), the exchange with retries,
    the settle with the cache write; a fresh cache entry answers without ESI."""
    op = prepared.operation
    key = prepared.key if prepared.cacheable else None
    force = prepared.force_refresh
    entry: CacheEntry | None = None
    limiter = client.limits
    identity = prepared.identity
    pending: Pending | None = None  # an acquire sent with the cache read, taken by the first attempt
    if key is not None:
        if not force and client.cache.likely_fresh(key, client.clock()):
            entry = client.cache.get(key)  # the usual hit: one round trip
        else:
            entry, pending = read_and_acquire(client, key, limiter, op, identity)
        if entry is not None and entry.is_error and not client.remember_errors:
            entry = None  # a client that keeps no errors asks ESI again
        if entry is not None and not force and entry.is_fresh(client.clock()):
            if pending is not None:
                pending.cancel()
            if logger.isEnabledFor(logging.INFO):
                logger.info("ESI %s %s -> %s (cache hit)", op.method.upper(), prepared.path, entry.status)
            if entry.is_error:  # a remembered 403/404 (a negative entry): ESI is not asked again
                raise entry.error(op.id, client.clock())
            return from_entry(op, entry, status=200, from_cache=True)
        if entry is not None and entry.is_error:
            entry = None  # a lapsed (or overridden) remembered error: nothing to revalidate

    path = prepared.path
    url = config().api_url + path
    query = prepared.query
    headers = dict(prepared.headers)
    if entry is not None and entry.etag:
        headers["If-None-Match"] = entry.etag
    if op.scopes:
        headers["Authorization"] = f"Bearer {prepared.token.access_token()}"
    body = prepared.body
    answered: list[Reservation] = []  # 2xx/3xx/403/404: settled with the cache write, in one round trip

    def attempt() -> HttpAnswer:
        nonlocal pending
        if pending is not None:
            reservation, pending = pending.take(), None
        else:
            reservation = limiter.acquire(op.rate_limit, identity)
        try:
            with request_slot():  # a crawl's in-flight limit covers the exchange only
                response = client.transport.send(op.method, url, headers=headers, params=query, json_body=body)
        except Exception:
            limiter.settle(reservation, 0, {})  # 0: no response at all (timeout, refused, bad URL...)
            raise
        if 200 <= response.status_code < 400 or response.status_code in NEGATIVE_STATUSES:
            answered.append(reservation)
        else:
            limiter.settle(reservation, response.status_code, response.headers)
        return response

    response = client.retry.run(attempt, retry=is_retry_safe(op), label=f"{op.method.upper()} {path}")
    settle = answered[0] if answered else None
    status = response.status_code
    rh = response.headers  # lower-case names
    if logger.isEnabledFor(logging.INFO):
        cache_state = "revalidated" if status == 304 else ("miss" if key is not None else "no-cache")
        logger.info(
            "ESI %s %s -> %s (cache %s, %s)",
            op.method.upper(),
            path,
            status,
            cache_state,
            budget(rh),
        )
    now = client.clock()
    if status == 304 and entry is not None:
        entry = entry.revalidated(rh, now)
        record(client, limiter, settle, response, key, entry)
        return from_entry(op, entry, status=304, not_modified=True)
    if status >= 400 or status == 304:
        negative = (
            CacheEntry.from_error(status, response.content, rh, now)
            if key is not None and client.remember_errors
            else None
        )
        record(client, limiter, settle, response, key if negative is not None else None, negative)
        raise response_error(op, response)
    raw = response.content
    try:
        data = json.loads(raw) if raw else None
    except ValueError as exc:
        record(client, limiter, settle, response, None, None)
        raise EsiTransportError(
            f"ESI answered {status} to {op.id} with a body that is not JSON ({len(raw)} bytes)."
        ) from exc
    fresh = CacheEntry.from_response(raw, rh, now)
    stored = key if key is not None and (fresh.etag or fresh.fresh_until > now) else None
    record(client, limiter, settle, response, stored, fresh)
    return EsiResponse(
        data=data,
        status=status,
        operation=op.id,
        headers=rh,
        etag=fresh.etag,
        expires=fresh.expires_dt(),
        last_modified=fresh.last_modified_dt(),
        pages=fresh.pages,
    )


# --- Redis round trips: the cache read with the acquire, the settle with the cache write ----


def read_and_acquire(
    client: EsiClient, key: str, limiter: _limits.Limiter, op: Operation, identity: str
) -> tuple[CacheEntry | None, Pending | None]:
    """Read ``key`` and reserve budget in one round trip (a miss is likely, or a refresh is forced).

    A hit cancels the reservation (one more round trip, only for entries this process has not
    seen fresh before). If Redis fails, the read is a miss and the first attempt acquires alone.
    """
    try:
        trip = RoundTrip(client.cache.redis())  # a cluster client may fail to build
    except REDIS_ERRORS as exc:
        logger.warning("ESI cache read failed, calling ESI instead: %s", exc)
        return None, None
    index = trip.add("get", key)
    pending = limiter.acquire_in(trip, op.rate_limit, identity)
    try:
        trip.run()
    except REDIS_ERRORS as exc:
        logger.warning("ESI cache read failed, calling ESI instead: %s", exc)
        return None, None
    return client.cache.entry_of(key, trip.result(index)), pending


def record(
    client: EsiClient,
    limiter: _limits.Limiter,
    reservation: Reservation | None,
    response: HttpAnswer,
    key: str | None,
    entry: CacheEntry | None,
) -> None:
    """Settle the answered request and store its entry in one round trip (either may be absent)."""
    if reservation is None and (key is None or entry is None):
        return
    try:
        trip = RoundTrip(client.cache.redis())  # a cluster client may fail to build
    except REDIS_ERRORS as exc:
        logger.warning("ESI cache write failed (and the shared limits did not record the answer): %s", exc)
        return
    if reservation is not None:
        limiter.settle_in(trip, reservation, response.status_code, response.headers)
    if key is not None and entry is not None:
        client.cache.set_in(trip, key, entry)
    try:
        trip.run()
    except REDIS_ERRORS as exc:
        logger.warning("ESI cache write failed (and the shared limits did not record the answer): %s", exc)


# --- helpers ----------------------------------------------------------------------------


def budget(headers: Mapping[str, str]) -> str:
    if "x-esi-error-limit-remain" in headers:
        return f"errors left {headers['x-esi-error-limit-remain']}"
    if "x-ratelimit-remaining" in headers:
        return f"{headers.get('x-ratelimit-group', 'group')} tokens left {headers['x-ratelimit-remaining']}"
    return "budget unknown"


def from_entry(
    op: Operation, entry: CacheEntry, *, status: int, from_cache: bool = False, not_modified: bool = False
) -> EsiResponse:
    return EsiResponse(
        data=entry.data(),
        status=status,
        operation=op.id,
        headers=entry.headers,
        etag=entry.etag,
        expires=entry.expires_dt(),
        last_modified=entry.last_modified_dt(),
        pages=entry.pages,
        from_cache=from_cache,
        not_modified=not_modified,
    )


def response_error(op: Operation, response: HttpAnswer) -> Exception:
    status = response.status_code
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text[:500]
    headers = response.headers
    if status == 429:
        group = headers.get("x-ratelimit-group") or (op.rate_limit.name if op.rate_limit else "unknown")
        return EsiRateLimited(group, _pause(headers.get("retry-after")))
    if status == 420:
        wait = _pause(headers.get("retry-after") or headers.get("x-esi-error-limit-reset"))
        return EsiErrorLimited(
            wait, f"ESI's error limit is exhausted (420 on {op.id}); nothing should be sent for {wait:.0f} s."
        )
    return EsiResponseError.for_status(status)(status, body, operation=op.id, headers=dict(headers))
