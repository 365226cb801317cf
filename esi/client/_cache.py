"""Redis cache of ESI GET responses: one key per call, one value per key, one round trip per hit.

Key: ``esi:cache:v2:<operationId>:<character or ->:<digest>`` where the digest covers the
normalised parameters, the language and the compatibility date. Value: a fixed binary header
(status, fresh-until, Expires, Last-Modified, X-Pages), the ETag, a few response headers as JSON
(decoded only when read) and ESI's body bytes, zlib-compressed when large. The key lives
until ``Expires`` (at most ``ESI_MAX_CACHE_SECONDS`` ahead) plus :data:`STALE_KEEP` seconds
when ESI sent an ETag, so a later request can revalidate with ``If-None-Match`` and get a
cheap 304.

A 403 or 404 is stored under the same key as a *negative entry* (:data:`NEGATIVE_STATUSES`):
ESI counts every error against the application's error limit, so the same call is answered
with the same error, from the same one read, until ESI's ``Expires`` on the error (at most
``ESI_ERROR_MEMORY_TIMEOUT`` seconds; 0 turns it off). A negative entry is never revalidated.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import struct
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Any

import redis as redis_lib

from esi.app_settings import esi_settings
from esi.client._caps import cap, note_capped
from esi.client._transport import settings_generation
from esi.client.limits import RoundTrip
from esi.exceptions import EsiConfigurationError, EsiResponseError

__all__ = ["NEGATIVE_STATUSES", "STALE_KEEP", "CacheEntry", "ResponseCache", "cache_key", "http_date"]

logger = logging.getLogger(__name__)

STALE_KEEP = 24 * 3600  # seconds an expired entry is kept for its ETag
COMPRESS_ABOVE = 1024  # bytes
_MAGIC = b"E3"
_MAGIC_V2 = b"E2"  # entries written before negative entries (all 200s): still read
#: Statuses remembered as negative entries: they say the same thing about the next identical call.
NEGATIVE_STATUSES = frozenset({403, 404})
_KEPT_HEADERS = ("etag", "expires", "last-modified", "x-pages", "date", "content-language", "cache-control")


def http_date(value: str | None) -> float | None:
    """An HTTP date as a UNIX timestamp, or None if absent/unreadable."""
    if not value:
        return None
    return _http_date(value)


@lru_cache(maxsize=512)  # Date/Expires/Last-Modified repeat across calls within a second
def _http_date(value: str) -> float | None:
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


def cache_key(op_id: str, params: Mapping[str, Any], language: str, compat_date: str, character_id: int | None) -> str:
    """``esi:cache:v2:<op>:<character or ->:<digest of params, language, compat date>``."""
    try:
        frozen = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in params.items()))
        return _cache_key(op_id, frozen, language, compat_date, character_id)
    except TypeError:  # unhashable values (a request body): not memoised
        return _make_key(op_id, params, language, compat_date, character_id)


#: ``json.dumps(..., sort_keys=True, separators=(",", ":"), default=str)`` without building an
#: encoder per call (json.dumps builds one whenever an argument is not a default); same output.
_key_json = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str).encode
#: ``json.dumps(..., separators=(",", ":"))``, built once.
_compact_json = json.JSONEncoder(separators=(",", ":")).encode


def _make_key(op_id: str, params: Any, language: str, compat_date: str, character_id: int | None) -> str:
    blob = _key_json([dict(params), language, compat_date])
    digest = hashlib.blake2b(blob.encode(), digest_size=16).hexdigest()
    return f"esi:cache:v2:{op_id}:{character_id if character_id is not None else '-'}:{digest}"


@lru_cache(maxsize=4096)  # the same calls come again and again (that is why they are cached)
def _cache_key(op_id: str, frozen: tuple[Any, ...], language: str, compat_date: str, character_id: int | None) -> str:
    return _make_key(
        op_id, {k: list(v) if isinstance(v, tuple) else v for k, v in frozen}, language, compat_date, character_id
    )


class LazyHeaders(Mapping[str, str]):
    """Stored response headers, decoded from JSON only if someone reads them (a hit rarely does)."""

    __slots__ = ("_data", "_raw")

    def __init__(self, raw: bytes) -> None:
        self._raw = raw
        self._data: dict[str, str] | None = None

    def _get(self) -> dict[str, str]:
        if self._data is None:
            self._data = json.loads(self._raw) if self._raw else {}
        return self._data

    def __getitem__(self, key: str) -> str:
        return self._get()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())

    def __repr__(self) -> str:
        return repr(self._get())


# flag, status, fresh_until, expires, last_modified, pages, len(etag), len(headers)
_FIXED = struct.Struct(">cHdddiHI")
_FIXED_V2 = struct.Struct(">cdddiHI")  # the same without the status
_NAN = float("nan")


def _opt(value: float) -> float | None:
    return None if value != value else value  # NaN stands for "absent"


@dataclass(slots=True)
class CacheEntry:
    """A stored response: ESI's body bytes and what we need to serve or revalidate it."""

    body: bytes
    fresh_until: float
    etag: str | None = None
    expires: float | None = None
    last_modified: float | None = None
    pages: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    status: int = 200  # 403/404: a negative entry (a remembered error; ``body`` is ESI's error body)

    def is_fresh(self, now: float) -> bool:
        return now < self.fresh_until

    @property
    def is_error(self) -> bool:
        """Whether this is a negative entry: a remembered 403/404, raised instead of served."""
        return self.status in NEGATIVE_STATUSES

    def error(self, operation: str, now: float) -> EsiResponseError:
        """The remembered error as a fresh exception: the class and status of ESI's answer."""
        try:
            body: Any = json.loads(self.body) if self.body else None
        except ValueError:
            body = self.body[:500].decode(errors="replace")
        cls = EsiResponseError.for_status(self.status)
        plain = cls(self.status, body, operation=operation)
        left = max(0, round(self.fresh_until - now))
        return cls(
            self.status,
            body,
            operation=operation,
            headers=dict(self.headers),
            message=f"{plain} (remembered: ESI gave this answer recently; it is not asked again for {left} s, "
            "see ESI_ERROR_MEMORY_TIMEOUT)",
        )

    def data(self) -> Any:
        return json.loads(self.body) if self.body else None

    def dump(self) -> bytes:
        """``E3`` + fixed binary header + ETag + headers JSON + body (zlib when large)."""
        etag = (self.etag or "").encode()
        kept = self.headers
        headers = _compact_json(kept if type(kept) is dict else dict(kept)).encode()
        body, flag = self.body, b"j"
        if len(body) > COMPRESS_ABOVE:
            body, flag = zlib.compress(body, 1), b"z"
        fixed = _FIXED.pack(
            flag,
            self.status,
            self.fresh_until,
            _NAN if self.expires is None else self.expires,
            _NAN if self.last_modified is None else self.last_modified,
            -1 if self.pages is None else self.pages,
            len(etag),
            len(headers),
        )
        return _MAGIC + fixed + etag + headers + body

    @classmethod
    def load(cls, raw: bytes) -> CacheEntry | None:
        """The entry in ``raw``; None if it is not one of ours (unreadable raises ValueError/struct.error)."""
        magic = raw[:2]
        if magic == _MAGIC:
            flag, status, fresh_until, expires, last_modified, pages, n_etag, n_headers = _FIXED.unpack_from(raw, 2)
            at = 2 + _FIXED.size
        elif magic == _MAGIC_V2:
            status = 200
            flag, fresh_until, expires, last_modified, pages, n_etag, n_headers = _FIXED_V2.unpack_from(raw, 2)
            at = 2 + _FIXED_V2.size
        else:
            return None
        etag = raw[at : at + n_etag].decode() if n_etag else None
        at += n_etag
        headers = LazyHeaders(raw[at : at + n_headers])
        body = raw[at + n_headers :]
        if flag == b"z":
            body = zlib.decompress(body)
        elif flag != b"j":
            raise ValueError(f"unknown body encoding {flag!r}")
        pages_or_none = None if pages < 0 else pages
        return cls(body, fresh_until, etag, _opt(expires), _opt(last_modified), pages_or_none, headers, status)

    @classmethod
    def from_response(cls, body: bytes, headers: Mapping[str, str], now: float) -> CacheEntry:
        """Entry for a 200; fresh for ``Expires - Date`` (server clock, so skew does not matter).

        Without ``Expires`` it is not fresh at all (kept only to revalidate its ETag): ESI sends
        ``Expires`` on everything it wants cached, and django-esi 10 cached nothing else either.
        """
        expires = http_date(headers.get("expires"))
        server_now = http_date(headers.get("date")) or now
        if expires is not None:
            ttl = expires - server_now
            longest = cap("ESI_MAX_CACHE_SECONDS")
            if ttl > longest:  # Expires: 9999 must not cache for millennia (docs/security.md)
                note_capped("ESI_MAX_CACHE_SECONDS", headers.get("expires"), "Expires")
                ttl = longest
                expires = server_now + longest
        else:
            ttl = 0.0
        pages = headers.get("x-pages")
        return cls(
            body=body,
            fresh_until=now + max(0.0, ttl),
            etag=headers.get("etag"),
            expires=expires,
            last_modified=http_date(headers.get("last-modified")),
            pages=int(pages) if pages and pages.isdigit() else None,
            headers={k: headers[k] for k in _KEPT_HEADERS if k in headers},
        )

    @classmethod
    def from_error(cls, status: int, body: bytes, headers: Mapping[str, str], now: float) -> CacheEntry | None:
        """A negative entry for a 403/404, fresh until ESI's ``Expires`` on it, at most
        ``ESI_ERROR_MEMORY_TIMEOUT`` seconds (without ``Expires``: that long); None: not remembered."""
        longest = float(esi_settings.ESI_ERROR_MEMORY_TIMEOUT)
        if status not in NEGATIVE_STATUSES or longest <= 0:
            return None
        expires = http_date(headers.get("expires"))
        server_now = http_date(headers.get("date")) or now
        ttl = longest if expires is None else min(longest, expires - server_now)
        if ttl <= 0:
            return None  # ESI says it may change now: ask again next time
        kept = {k: headers[k] for k in ("date", "expires", "content-language") if k in headers}
        return cls(body=body[:4096], fresh_until=now + ttl, expires=expires, headers=kept, status=status)

    def revalidated(self, headers: Mapping[str, str], now: float) -> CacheEntry:
        """This entry after a 304: same body, new freshness (and pages/etag if ESI sent them)."""
        fresh = CacheEntry.from_response(self.body, headers, now)
        return CacheEntry(
            body=self.body,
            fresh_until=fresh.fresh_until,
            etag=fresh.etag or self.etag,
            expires=fresh.expires or self.expires,
            last_modified=fresh.last_modified or self.last_modified,
            pages=fresh.pages or self.pages,
            headers={**self.headers, **fresh.headers},
        )

    def expires_dt(self) -> dt.datetime | None:
        return _utc(self.expires) if self.expires is not None else None

    def last_modified_dt(self) -> dt.datetime | None:
        return _utc(self.last_modified) if self.last_modified is not None else None


@lru_cache(maxsize=1024)  # every hit of one entry asks for the same two timestamps
def _utc(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC)


class ResponseCache:
    """Reads and writes :class:`CacheEntry` values; Redis errors degrade to "no cache"."""

    def __init__(self, redis_factory: Callable[[], redis_lib.Redis], clock: Callable[[], float] = time.time) -> None:
        self._factory = redis_factory
        self.clock = clock
        self._conn: redis_lib.Redis | None = None
        self._gen = -1
        # key -> fresh_until of the entries this process read or wrote: a hint only, so the client
        # knows when a miss is likely and asks the limiter in the same round trip as the read
        self._seen: dict[str, float] = {}

    def _redis(self) -> redis_lib.Redis:
        """The Redis client, asked for again only after a settings change or a fork."""
        gen = settings_generation()
        conn = self._conn
        if conn is None or gen != self._gen:
            conn = self._conn = self._factory()
            self._gen = gen
        return conn

    def redis(self) -> redis_lib.Redis:
        """The cache's Redis client (for a :class:`~esi.client.limits.RoundTrip` with the limiter)."""
        try:
            return self._redis()
        except ValueError as exc:  # a malformed ESI_REDIS_URL
            raise EsiConfigurationError(f"ESI_REDIS_URL is not usable: {exc}") from exc

    def likely_fresh(self, key: str, now: float) -> bool:
        """Whether this process last saw ``key`` fresh until after ``now`` (a hint, not a read)."""
        return self._seen.get(key, 0.0) > now

    def _remember(self, key: str, entry: CacheEntry) -> None:
        if len(self._seen) >= 4096:
            self._seen.clear()
        self._seen[key] = entry.fresh_until

    def get(self, key: str) -> CacheEntry | None:
        try:
            raw = self.redis().get(key)
        except redis_lib.RedisError as exc:
            logger.warning("ESI cache read failed, calling ESI instead: %s", exc)
            return None
        return self.entry_of(key, raw)

    def entry_of(self, key: str, raw: Any) -> CacheEntry | None:
        """The entry in what a ``GET`` of ``key`` returned (None: a miss or an unreadable value)."""
        if isinstance(raw, redis_lib.RedisError):
            logger.warning("ESI cache read failed, calling ESI instead: %s", raw)
            return None
        if not isinstance(raw, bytes):
            return None
        try:
            entry = CacheEntry.load(raw)
        except (ValueError, struct.error, zlib.error) as exc:
            logger.warning("ESI cache entry %s is unreadable, ignoring it: %s", key, exc)
            return None
        if entry is not None:
            self._remember(key, entry)
        return entry

    def _ttl_ms(self, entry: CacheEntry) -> int | None:
        if entry.is_error:  # kept only while it is answered: never revalidated
            ms = int((entry.fresh_until - self.clock()) * 1000)
            return ms if ms > 0 else None
        ttl = entry.fresh_until - self.clock() + (STALE_KEEP if entry.etag else 0)
        return int(ttl * 1000) if ttl >= 1 else None

    def forget(self, key: str) -> bool:
        """Drop the entry of ``key`` (positive or negative); raises redis errors (an explicit act)."""
        return bool(self.redis().delete(key))

    def set(self, key: str, entry: CacheEntry) -> None:
        ttl = self._ttl_ms(entry)
        if ttl is None:
            return
        try:
            self.redis().set(key, entry.dump(), px=ttl)
        except redis_lib.RedisError as exc:
            logger.warning("ESI cache write failed: %s", exc)
            return
        self._remember(key, entry)

    def set_in(self, trip: RoundTrip, key: str, entry: CacheEntry) -> None:
        """:meth:`set` as part of ``trip`` (with the limiter's settle: one round trip)."""
        ttl = self._ttl_ms(entry)
        if ttl is None:
            return
        trip.add("set", key, entry.dump(), px=ttl)
        self._remember(key, entry)
