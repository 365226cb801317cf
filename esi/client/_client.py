"""The ESI client: validate, serve from cache, or send (with limits and retries) and store.

One :class:`EsiClient` per compatibility date per process (:func:`get_client`); each holds the
view of its date and sends that date on every request. All of them share one pooled transport,
the response cache and the :class:`Limiter`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import httpx
import redis as redis_lib
from django.views.decorators.debug import sensitive_variables

from esi._dates import check_date, default_date
from esi.app_settings import esi_settings
from esi.client import limits as _limits
from esi.client._accessors import Tag
from esi.client._cache import NEGATIVE_STATUSES, CacheEntry, ResponseCache, cache_key
from esi.client._operations import TokenContext, resolve_token, validate_params
from esi.client._pagination import crawl_pages, walk_cursor, walk_from_id
from esi.client._response import EsiResponse
from esi.client._retry import RetryPolicy, is_retry_safe
from esi.client._spec import Operation, SpecIndex, get_spec
from esi.client._transport import Transport, settings_generation
from esi.client._views import get_view, spec_from_file
from esi.client.limits import Pending, Reservation, RoundTrip, pause_seconds
from esi.client.limits._rules import max_pause
from esi.dashboard import counters
from esi.exceptions import (
    EsiError,
    EsiErrorLimited,
    EsiRateLimited,
    EsiResponseError,
    EsiTransportError,
    InvalidParameter,
)
from esi.redis_pool import REDIS_ERRORS, get_redis

__all__ = ["EsiClient", "get_client", "reset_client", "shared_transport"]

logger = logging.getLogger("esi.client")

_PAGERS = {"pages": crawl_pages, "cursor": walk_cursor, "from_id": walk_from_id}
_PUBLIC = TokenContext(None, None)
_MEMO_SIZE = 4096


def _pause(value: str | None) -> float:
    """A pause ESI asks for, capped at ``ESI_MAX_PAUSE``; a minute (capped too) when it names none."""
    wait = pause_seconds(value)
    return min(60.0, max_pause()) if wait is None else wait


class EsiClient:
    """Calls ESI operations by ``operationId``; see ``docs/calling-esi.md``.

    ``compatibility_date`` pins the client to that date's view (without one it follows
    ``ESI_COMPATIBILITY_DATE`` and ``ESI_SPEC_FILE``); ``spec_file`` reads the view from a file.
    The other arguments are for tests and special setups; ``get_client()`` gives the shared ones.
    """

    def __init__(
        self,
        *,
        compatibility_date: str | None = None,
        spec_file: str | None = None,
        spec: SpecIndex | None = None,
        transport: httpx.BaseTransport | Transport | None = None,
        limiter: _limits.Limiter | None = None,
        retry: RetryPolicy | None = None,
        redis_factory: Callable[[], redis_lib.Redis] | None = None,
        clock: Callable[[], float] = time.time,
        user_agent: str | None = None,
    ) -> None:
        self._date = check_date(compatibility_date) if compatibility_date else None
        self.user_agent = user_agent  # None: the project's (ESI_APP_NAME...), sent by the pool
        self._spec_file = str(spec_file) if spec_file else None
        self._spec = spec
        self.transport = transport if isinstance(transport, Transport) else Transport(transport)
        self._limiter = limiter
        self.retry = retry or RetryPolicy()
        self.clock = clock
        self.cache = ResponseCache(redis_factory or get_redis, clock)
        self._cached: tuple[int, SpecIndex, bool, str, str] | None = None
        self._memo: dict[tuple[Any, ...], tuple[int, Operation, dict[str, Any], str]] = {}

    def __repr__(self) -> str:
        return f"<EsiClient {esi_settings.ESI_API_URL} date={self.compatibility_date} view={self.spec.date}>"

    @property
    def spec(self) -> SpecIndex:
        """The view this client resolves operations against."""
        return self._settings()[0]

    @property
    def compatibility_date(self) -> str:
        """The ``X-Compatibility-Date`` every request of this client carries."""
        return self._settings()[3]

    def refresh(self) -> None:
        """Re-read every ``ESI_*`` setting on the next call (after changing one by assignment;
        ``override_settings`` needs no help)."""
        self._cached = None
        self.transport.refresh()

    def _settings(self) -> tuple[SpecIndex, bool, str, str]:
        """View, ``ESI_CACHE_RESPONSE``, the API base URL and the date, re-read only after an
        ``ESI_*`` setting changed (``setting_changed``) or a fork: not on every call."""
        gen = settings_generation()
        cached = self._cached
        if cached is None or cached[0] != gen:
            base_url = esi_settings.ESI_API_URL.rstrip("/")
            date = self._date or default_date()
            if self._spec is not None:
                spec = self._spec
            elif self._spec_file:
                spec = spec_from_file(self._spec_file)
            elif self._date:
                spec = get_view(self._date)
            else:
                spec = get_spec()
            cached = (gen, spec, bool(esi_settings.ESI_CACHE_RESPONSE), base_url, date)
            self._cached = cached
        return cached[1], cached[2], cached[3], cached[4]

    @property
    def limits(self) -> _limits.Limiter:
        """The shared rate-limit / error-limit guard."""
        if self._limiter is None:
            self._limiter = _limits.get_limiter()
        return self._limiter

    # --- the public call ---------------------------------------------------------------------

    @sensitive_variables()  # error reports show no local below (Authorization, token strings)
    def call(
        self,
        operation: str,
        *,
        token: Any = None,
        all_pages: bool = False,
        language: str | None = None,
        force_refresh: bool = False,
        **params: Any,
    ) -> EsiResponse:
        """Call one operation; with ``all_pages`` every page (X-Pages, cursor or from_id)."""
        memo_key: tuple[Any, ...] | None = None
        if token is None and not all_pages:
            # A public call seen before skips the spec lookup, validation and key building.
            memo_key = (operation, language, *params.items())
            try:
                prepared = self._memo.get(memo_key)
            except TypeError:  # unhashable parameter values (lists, a body): not memoised
                prepared, memo_key = None, None
            if prepared is not None and prepared[0] == settings_generation():
                return self.fetch(prepared[1], prepared[2], _PUBLIC, language, force_refresh, key=prepared[3])
        spec = self.spec
        op = spec.get(operation)
        values = validate_params(op, params)
        ctx = resolve_token(op, token)
        if language is not None and language not in spec.languages:
            raise InvalidParameter(
                f"language must be one of {', '.join(spec.languages)}; got {language!r}.",
                operation=op.id,
                parameter="language",
            )
        if all_pages and op.paginated:
            pager = _PAGERS[op.paginated]
            return pager(self.fetch, op, values, ctx.resolved(), language, force_refresh)
        if memo_key is not None:  # token=None got this far: a public operation
            if len(self._memo) >= _MEMO_SIZE:
                self._memo.clear()
            key = cache_key(op.id, values, language or "en", self.compatibility_date, None)
            self._memo[memo_key] = (settings_generation(), op, values, key)
            return self.fetch(op, values, _PUBLIC, language, force_refresh, key=key)
        return self.fetch(op, values, ctx, language, force_refresh)

    def __getattr__(self, name: str) -> Tag:
        if name.startswith("_"):
            raise AttributeError(name)
        tags = self.spec.tags
        wanted = name.replace("_", "").lower()
        for tag in tags:
            if tag.replace(" ", "").lower() == wanted:
                return Tag(self, tag, tags[tag])
        raise AttributeError(f"ESI has no tag {name!r}; tags are: {', '.join(t.replace(' ', '') for t in tags)}")

    # --- one request -----------------------------------------------------------------------

    def fetch(
        self,
        op: Operation,
        values: dict[str, Any],
        ctx: TokenContext,
        language: str | None,
        force: bool,
        *,
        key: str | None = None,
    ) -> EsiResponse:
        """One request of an already validated call, counted for the dashboard (no I/O of its own)."""
        started = time.perf_counter()
        try:
            response = self._fetch(op, values, ctx, language, force, key=key)
        except EsiError as exc:
            counters.record(op.id, ctx.character_id, started, error=exc)
            raise
        counters.record(op.id, ctx.character_id, started, response=response)
        return response

    def _fetch(
        self,
        op: Operation,
        values: dict[str, Any],
        ctx: TokenContext,
        language: str | None,
        force: bool,
        *,
        key: str | None = None,
    ) -> EsiResponse:
        """One request of an already validated call: cache, limits, retries, store."""
        _spec, cache_enabled, base_url, date = self._settings()
        cacheable = op.method == "get" and (not op.scopes or ctx.cacheable) and cache_enabled
        entry: CacheEntry | None = None
        limiter = self.limits
        identity = ctx.identity if op.scopes else "app"
        pending: Pending | None = None  # an acquire sent with the cache read, taken by the first attempt
        if not cacheable:
            key = None
        else:
            key = key or cache_key(
                op.id,
                values,
                language or "en",
                date,
                ctx.character_id if op.scopes else None,
            )
            if not force and self.cache.likely_fresh(key, self.clock()):
                entry = self.cache.get(key)  # the usual hit: one round trip
            else:
                entry, pending = self._read_and_acquire(key, limiter, op, identity)
            if entry is not None and not force and entry.is_fresh(self.clock()):
                if pending is not None:
                    pending.cancel()
                if logger.isEnabledFor(logging.INFO):
                    logger.info("ESI %s %s -> %s (cache hit)", op.method.upper(), self._path(op, values), entry.status)
                if entry.is_error:  # a remembered 403/404 (a negative entry): ESI is not asked again
                    raise entry.error(op.id, self.clock())
                return self._from_entry(op, entry, status=200, from_cache=True)
            if entry is not None and entry.is_error:
                entry = None  # a lapsed (or overridden) remembered error: nothing to revalidate

        path = self._path(op, values)
        url = base_url + path
        query = {k: v for k, v in values.items() if k != "body" and op.parameters[k].location == "query"}
        headers = {"X-Compatibility-Date": date}  # the pool sends User-Agent and Accept itself
        if self.user_agent:
            headers["User-Agent"] = self.user_agent
        if language:
            headers["Accept-Language"] = language
        if entry is not None and entry.etag:
            headers["If-None-Match"] = entry.etag
        if op.scopes:
            headers["Authorization"] = f"Bearer {ctx.access_token()}"
        body = values.get("body")
        answered: list[Reservation] = []  # 2xx/3xx/403/404: settled with the cache write, in one round trip

        def attempt() -> httpx.Response:
            nonlocal pending
            if pending is not None:
                reservation, pending = pending.take(), None
            else:
                reservation = limiter.acquire(op.rate_limit, identity)
            try:
                response = self.transport.send(op.method, url, headers=headers, params=query, json_body=body)
            except Exception:
                limiter.settle(reservation, 0, {})  # 0: no response at all (timeout, refused, bad URL...)
                raise
            if 200 <= response.status_code < 400 or response.status_code in NEGATIVE_STATUSES:
                answered.append(reservation)
            else:
                limiter.settle(reservation, response.status_code, response.headers)
            return response

        response = self.retry.run(attempt, retry=is_retry_safe(op), label=f"{op.method.upper()} {path}")
        settle = answered[0] if answered else None
        status = response.status_code
        rh = dict(response.headers.items())  # lower-case names; httpx.Headers lookups are linear scans
        if logger.isEnabledFor(logging.INFO):
            cache_state = "revalidated" if status == 304 else ("miss" if cacheable else "no-cache")
            logger.info(
                "ESI %s %s -> %s (cache %s, %s)",
                op.method.upper(),
                path,
                status,
                cache_state,
                self._budget(rh),
            )
        now = self.clock()
        if status == 304 and entry is not None:
            entry = entry.revalidated(rh, now)
            self._record(limiter, settle, response, key, entry)
            return self._from_entry(op, entry, status=304, not_modified=True)
        if status >= 400 or status == 304:
            negative = CacheEntry.from_error(status, response.content, rh, now) if key is not None else None
            self._record(limiter, settle, response, key if negative is not None else None, negative)
            raise self._error(op, response)
        raw = response.content
        try:
            data = json.loads(raw) if raw else None
        except ValueError as exc:
            self._record(limiter, settle, response, None, None)
            raise EsiTransportError(
                f"ESI answered {status} to {op.id} with a body that is not JSON ({len(raw)} bytes)."
            ) from exc
        fresh = CacheEntry.from_response(raw, rh, now)
        stored = key if key is not None and (fresh.etag or fresh.fresh_until > now) else None
        self._record(limiter, settle, response, stored, fresh)
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

    def _read_and_acquire(
        self, key: str, limiter: _limits.Limiter, op: Operation, identity: str
    ) -> tuple[CacheEntry | None, Pending | None]:
        """Read ``key`` and reserve budget in one round trip (a miss is likely, or a refresh is forced).

        A hit cancels the reservation (one more round trip, only for entries this process has not
        seen fresh before). If Redis fails, the read is a miss and the first attempt acquires alone.
        """
        trip = RoundTrip(self.cache.redis())
        index = trip.add("get", key)
        pending = limiter.acquire_in(trip, op.rate_limit, identity)
        try:
            trip.run()
        except REDIS_ERRORS as exc:
            logger.warning("ESI cache read failed, calling ESI instead: %s", exc)
            return None, None
        return self.cache.entry_of(key, trip.result(index)), pending

    def _record(
        self,
        limiter: _limits.Limiter,
        reservation: Reservation | None,
        response: httpx.Response,
        key: str | None,
        entry: CacheEntry | None,
    ) -> None:
        """Settle the answered request and store its entry in one round trip (either may be absent)."""
        if reservation is None and (key is None or entry is None):
            return
        trip = RoundTrip(self.cache.redis())
        if reservation is not None:
            limiter.settle_in(trip, reservation, response.status_code, response.headers)
        if key is not None and entry is not None:
            self.cache.set_in(trip, key, entry)
        try:
            trip.run()
        except REDIS_ERRORS as exc:
            logger.warning("ESI cache write failed (and the shared limits did not record the answer): %s", exc)

    # --- helpers ----------------------------------------------------------------------------

    @staticmethod
    def _path(op: Operation, values: Mapping[str, Any]) -> str:
        path = op.path
        for name in op.path_params:
            path = path.replace("{" + name + "}", quote(str(values[name]), safe=""))
        return path

    @staticmethod
    def _budget(headers: Mapping[str, str]) -> str:
        if "x-esi-error-limit-remain" in headers:
            return f"errors left {headers['x-esi-error-limit-remain']}"
        if "x-ratelimit-remaining" in headers:
            return f"{headers.get('x-ratelimit-group', 'group')} tokens left {headers['x-ratelimit-remaining']}"
        return "budget unknown"

    @staticmethod
    def _from_entry(
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

    @staticmethod
    def _error(op: Operation, response: httpx.Response) -> Exception:
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


_lock = threading.Lock()
_clients: dict[tuple[str | None, str | None, str | None, bool], EsiClient] = {}
_transport: Transport | None = None


def get_client(
    compatibility_date: str | dt.date | None = None,
    *,
    spec_file: str | None = None,
    user_agent: str | None = None,
    retry_server_errors: bool = True,
) -> EsiClient:
    """The process's client for ``compatibility_date`` (``'YYYY-MM-DD'`` or a date), one per
    (date, ``spec_file``, ``user_agent``); without a date, the default client, which follows
    ``ESI_COMPATIBILITY_DATE``/``ESI_SPEC_FILE``. All share one httpx pool (rebuilt after fork)
    and each view is loaded once. ``user_agent`` replaces the project's User-Agent (built from
    ``ESI_APP_NAME``...) for this client's requests, as ``ESIClientProvider``'s ``ua_*`` do.
    ``retry_server_errors=False`` retries only timeouts and broken connections, never a 5xx
    answer (django-esi 10's behaviour, which ``ESIClientProvider`` keeps).

    A malformed date, one before 2020-01-01 or one in the future raises InvalidParameter naming
    the valid dates.
    """
    date = None if compatibility_date is None else check_date(compatibility_date)
    key = (date, str(spec_file) if spec_file else None, user_agent or None, retry_server_errors)
    client = _clients.get(key)
    if client is None:
        transport = shared_transport()
        with _lock:
            client = _clients.get(key)
            if client is None:
                retry = RetryPolicy() if retry_server_errors else RetryPolicy(statuses=frozenset())
                client = _clients[key] = EsiClient(
                    compatibility_date=date, spec_file=key[1], transport=transport, user_agent=key[2], retry=retry
                )
    return client


def shared_transport() -> Transport:
    """The one pooled transport every client of this process (and the view fetch) sends through."""
    global _transport
    transport = _transport
    if transport is None:
        with _lock:
            if _transport is None:
                _transport = Transport()
            transport = _transport
    return transport


def reset_client() -> None:
    """Close and forget the shared clients (tests; after changing ESI_SPEC_FILE)."""
    global _transport
    with _lock:
        if _transport is not None:
            _transport.close()
        for client in _clients.values():
            client.transport.close()
        _clients.clear()
        _transport = None
