"""Where the view of a compatibility date comes from, loaded once per process.

A *view* is the OpenAPI document ESI serves for one ``X-Compatibility-Date``. For a date, in
order: this process's copy; the shared store (``ESI_SPEC_CACHE_DIR`` when set, else Redis), so
every worker parses what one of them fetched; the bundled document of exactly that date; the
document ESI serves (``{ESI_API_URL}meta/openapi.json`` with the date), written to the shared
store. When ESI cannot be asked (offline, refused, not a usable document), the newest bundled
view not after the date is used, with one warning naming both dates.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import redis as redis_lib

from esi._dates import OLDEST_DATE, bundled_dates, check_date, default_date
from esi._dates import bundled as _bundled
from esi.app_settings import esi_settings
from esi.client._spec import Location, SpecIndex
from esi.client._transport import shared_pool
from esi.exceptions import EsiError, EsiSpecError
from esi.redis_pool import get_redis

__all__ = [
    "cached_dates",
    "clear_spec_cache",
    "clear_views",
    "fetch_document",
    "get_spec",
    "get_view",
    "spec_from_file",
    "store_view",
]

logger = logging.getLogger("esi.client")

_REDIS_KEY = "esi:spec:v1:{date}"
_REDIS_DATES = "esi:spec:v1:dates"

_lock = threading.Lock()
_views: dict[tuple[str, str], SpecIndex] = {}  # (ESI_API_URL, date) -> view
_files: dict[str, SpecIndex] = {}  # path -> index (bundled and ESI_SPEC_FILE/spec_file documents)


def _base_url() -> str:
    return str(esi_settings.ESI_API_URL).rstrip("/")


def _once(memo: dict[Any, SpecIndex], key: Any, build: Callable[[], SpecIndex]) -> SpecIndex:
    """``memo[key]``, built (and given what views learn from each other) by one thread only."""
    spec = memo.get(key)
    if spec is None:
        with _lock:
            spec = memo.get(key)
            if spec is None:
                spec = memo[key] = build()
                _attach(spec)
    return spec


def spec_from_file(path: str | Path) -> SpecIndex:
    """The index of one document file, parsed once per process."""
    return _once(_files, str(path), lambda: SpecIndex.from_file(path))


def get_view(date: str) -> SpecIndex:
    """The view of a validated ``YYYY-MM-DD`` date (see the module docstring for where from)."""
    return _once(_views, (_base_url(), date), lambda: _load(date))


def _attach(spec: SpecIndex) -> None:
    """Give a view what it learns from the others: their names, the server's rate-limit groups."""
    spec.other_names = _other_names
    spec.server_limits = _server_limits


def clear_views() -> None:
    """Forget every loaded view and document (after ``esi_update_spec``; tests)."""
    global _limits
    with _lock:
        _views.clear()
        _files.clear()
        _names.clear()
        _limits = None


def _load(date: str) -> SpecIndex:
    raw = _read_shared(date)
    if raw is not None:
        try:
            return SpecIndex(json.loads(raw), f"the stored ESI view of {date}", date=date)
        except (ValueError, EsiSpecError) as exc:
            logger.warning("The stored ESI view of %s is unreadable (%s); loading it anew.", date, exc)
    bundled = _bundled()
    if date in bundled:
        return _bundled_index(date)
    try:
        content, index = fetch_document(date)
    except EsiSpecError as exc:
        older = [d for d in bundled if d <= date] or [OLDEST_DATE]
        logger.warning(
            "ESI's view of %s could not be fetched (%s); using the bundled view of %s instead. "
            "Run `manage.py esi_update_spec --date %s` once ESI answers.",
            date,
            exc,
            older[-1],
            date,
        )
        return _bundled_index(older[-1])
    try:
        store_view(date, content)
    except EsiSpecError as exc:
        logger.warning("ESI's view of %s is used but not shared (%s); each process will fetch it.", date, exc)
    return index


def _bundled_index(date: str) -> SpecIndex:
    spec = _files.get(str(_bundled()[date]))
    if spec is None:
        spec = SpecIndex.from_file(_bundled()[date])
        _files[str(_bundled()[date])] = spec
    return spec


def fetch_document(date: str) -> tuple[bytes, SpecIndex]:
    """The document ESI serves for ``date`` and its index, checked to be a usable OpenAPI document
    (EsiSpecError otherwise); sent through the process's one pool."""
    url = _base_url() + "/meta/openapi.json"
    try:
        response = shared_pool().send("get", url, headers={"X-Compatibility-Date": date})
    except EsiError as exc:
        raise EsiSpecError(f"could not fetch {url}: {exc}") from exc
    if response.status_code != 200:
        raise EsiSpecError(f"{url} answered {response.status_code}: {response.text[:200]}")
    try:
        index = SpecIndex(json.loads(response.content), f"ESI's view of {date}", date=date)
    except (ValueError, EsiSpecError) as exc:
        raise EsiSpecError(f"{url} did not return a usable OpenAPI document: {exc}") from exc
    if not len(index):
        raise EsiSpecError(f"{url} returned an OpenAPI document without operations")
    return response.content, index


# --- the shared store -----------------------------------------------------------------------


def _folder() -> Path | None:
    folder = esi_settings.ESI_SPEC_CACHE_DIR
    return Path(folder) if folder else None


def _read_shared(date: str) -> bytes | None:
    folder = _folder()
    if folder is not None:
        try:
            return (folder / f"openapi-{date}.json").read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            logger.warning("Cannot read the stored ESI view of %s in ESI_SPEC_CACHE_DIR: %s", date, exc)
            return None
    try:
        raw = get_redis().get(_REDIS_KEY.format(date=date))
        return zlib.decompress(raw) if isinstance(raw, bytes) else None
    except (redis_lib.RedisError, zlib.error) as exc:
        logger.warning("Cannot read the stored ESI view of %s from Redis: %s", date, exc)
        return None


def store_view(date: str, content: bytes) -> str:
    """Write a fetched document to the shared store; returns where. EsiSpecError when it cannot."""
    folder = _folder()
    if folder is not None:
        target = folder / f"openapi-{date}.json"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=target.name, suffix=".tmp")
            with os.fdopen(fd, "wb") as fh:
                fh.write(content)
            os.replace(tmp, target)  # readers see the old or the new document, never half
        except OSError as exc:
            raise EsiSpecError(f"cannot write {target} (check ESI_SPEC_CACHE_DIR): {exc}") from exc
        return str(target)
    try:
        pipe = get_redis().pipeline()
        pipe.set(_REDIS_KEY.format(date=date), zlib.compress(content, 6))
        pipe.sadd(_REDIS_DATES, date)
        pipe.execute()
    except redis_lib.RedisError as exc:
        raise EsiSpecError(f"cannot store it in Redis (ESI_REDIS_URL): {exc}") from exc
    return f"Redis ({_REDIS_KEY.format(date=date)})"


def cached_dates() -> list[str]:
    """Dates with a view in the shared store, oldest first; EsiSpecError when it cannot be read."""
    folder = _folder()
    if folder is not None:
        try:
            return sorted(p.stem.removeprefix("openapi-") for p in folder.glob("openapi-*.json"))
        except OSError as exc:
            raise EsiSpecError(f"cannot list {folder} (ESI_SPEC_CACHE_DIR): {exc}") from exc
    try:
        members: Any = get_redis().smembers(_REDIS_DATES)
    except redis_lib.RedisError as exc:
        raise EsiSpecError(f"cannot list the views stored in Redis (ESI_REDIS_URL): {exc}") from exc
    return sorted(m.decode() if isinstance(m, bytes) else str(m) for m in members)


# --- what views learn from each other -----------------------------------------------------------

_names: dict[str, Mapping[str, Location]] = {}
_limits: dict[Location, Any] | None = None


def _server_limits() -> dict[Location, Any]:
    """``x-rate-limit`` by route in the newest bundled view (read once; the document is not kept)."""
    global _limits
    if _limits is None:
        path = _bundled()[bundled_dates()[-1]]
        index = _files.get(str(path))
        if index is not None:
            document: Any = index.document
        else:
            with open(path, "rb") as fh:
                document = json.load(fh)
        _limits = {
            (route, method): op["x-rate-limit"]
            for route, item in document["paths"].items()
            for method, op in item.items()
            if isinstance(op, Mapping) and isinstance(op.get("x-rate-limit"), Mapping)
        }
    return _limits


def _other_names() -> dict[str, Mapping[str, Location]]:
    """operationId -> route for every bundled view and every view loaded in this process."""
    for date, path in _bundled().items():
        if date not in _names:
            index = _files.get(str(path))
            if index is not None:
                _names[date] = index.locations
            else:  # only the names are kept: the document itself is dropped again
                with open(path, "rb") as fh:
                    _names[date] = SpecIndex(json.load(fh), str(path)).locations
    out = dict(_names)
    for (_url, date), view in list(_views.items()):
        out.setdefault(date, view.locations)
    return out


def get_spec(compatibility_date: str | None = None) -> SpecIndex:
    """The view of ``compatibility_date``; without one, the default client's: ``ESI_SPEC_FILE``
    when set, else the view of ``ESI_COMPATIBILITY_DATE``. Each is loaded once per process."""
    if compatibility_date is None:
        if esi_settings.ESI_SPEC_FILE:
            return spec_from_file(esi_settings.ESI_SPEC_FILE)
        return get_view(default_date())
    return get_view(check_date(compatibility_date))


def clear_spec_cache() -> None:
    """Forget loaded documents and views (after ``esi_update_spec`` wrote a new one)."""
    clear_views()
