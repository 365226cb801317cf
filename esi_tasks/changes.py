"""The change feed: ``endpoint_changed`` when the data of a fetched resource really changed.

After every announced fetch (``fetch_endpoint``, keep-fresh runs, schedule runs) that has an
``endpoint_changed`` receiver, the decoded body is hashed and compared with the hash of the last
fetch of the *same resource* (the response cache's key: operation, parameters, language, date,
character; joined pages are their own resource, a streamed crawl another). A 304, a copy from
the cache or a 200 with an equal body sends nothing. Redis holds only that hash (with the
resource's ETag and Last-Modified) and, for operations listed in ``ESI_CHANGE_DIFFS``, the
previous body (zlib-compressed JSON), both for the resource's own lifetime plus
``ESI_CHANGE_STATE_KEEP`` seconds.

For a listed operation whose body is a list of objects, the signal carries a :class:`Diff`: items
added, removed and changed, keyed by the operation's id field (:func:`id_field`, from the item
schema of the spec: ``order_id``, ``item_id``...). A list that only changed its order is no change.

A streamed crawl (``on_page``) is never held whole: :class:`CrawlDigest` hashes its pages as they
pass, the crawl is compared by that hash, and its signal carries the crawl's summary and no diff.

The feed is bookkeeping: when Redis does not answer, no ``endpoint_changed`` is sent for that
fetch (a warning is logged) and the fetch itself is unaffected. See docs/changes.md.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import logging
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.core.checks import CheckMessage, register
from django.core.checks import Warning as CheckWarning

from esi.app_settings import esi_settings
from esi.client import Operation, SpecIndex, get_client
from esi.exceptions import EsiError
from esi.redis_pool import REDIS_ERRORS, get_redis
from esi_tasks._keys import PREFIX
from esi_tasks.signals import endpoint_changed

if TYPE_CHECKING:
    from esi_tasks.fetching import FetchOutcome

__all__ = [
    "CrawlDigest",
    "Diff",
    "check_change_diffs",
    "diff",
    "diff_field",
    "id_field",
    "listening",
    "state_keys",
    "track",
]

logger = logging.getLogger(__name__)

#: Ids EVE gives out once across the game: an item's, a market order's (``/markets/structures/{id}``).
_GLOBAL_IDS = ("item_id", "order_id")
_UNIQUE = re.compile(r"^\s*unique\s+id\b", re.IGNORECASE)


@dataclass(frozen=True)
class Diff:
    """What changed in a list body since the last fetch, item by item (items are the decoded JSON)."""

    id_field: str
    added: list[Any]
    removed: list[Any]
    changed: list[tuple[Any, Any]]  # (before, after)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)


# --- the id field of an operation's list items ------------------------------------------------


def _deref(document: Mapping[str, Any], node: Any) -> Any:
    for _ in range(10):
        ref = node.get("$ref") if isinstance(node, Mapping) else None
        if not isinstance(ref, str) or not ref.startswith("#/"):
            return node
        target: Any = document
        for part in ref[2:].split("/"):
            target = target.get(part) if isinstance(target, Mapping) else None
        node = target
    return node


def _item_schema(spec: SpecIndex, op: Operation) -> Mapping[str, Any] | None:
    """The object schema of one item of ``op``'s list answer, or None (not a list of objects)."""
    document = spec.document
    raw = ((document.get("paths") or {}).get(op.path) or {}).get(op.method) or {}
    response = _deref(document, (raw.get("responses") or {}).get("200"))
    if not isinstance(response, Mapping):
        return None
    schema = _deref(document, ((response.get("content") or {}).get("application/json") or {}).get("schema"))
    if not isinstance(schema, Mapping) or schema.get("type") != "array":
        return None
    item = _deref(document, schema.get("items"))
    return item if isinstance(item, Mapping) and item.get("type") == "object" else None


def _singular(word: str) -> str:
    if word.endswith("ies"):
        return word[:-3] + "y"
    return word[:-1] if word.endswith("s") else word


@functools.lru_cache(maxsize=2048)
def id_field(spec: SpecIndex, op: Operation) -> str | None:
    """The property that identifies one item of ``op``'s list answer, from the spec's item schema.

    Among the item's *required* properties, the first rule that names one wins: ``id``; one whose
    description begins "Unique ID"; ``<noun>_id`` for a noun of the path (``/orders`` ->
    ``order_id``, ``/industry/jobs`` -> ``job_id``), not one followed by its own parameter
    (``/characters/{character_id}``); ``item_id`` or ``order_id`` (ids EVE gives out once: assets,
    blueprints, a structure's market); the only ``*_id`` there is. A body whose items repeat an id
    (a skill queue's ``skill_id``) gets no diff at run time. None: no natural id (``ESI_CHANGE_DIFFS`` can name one).
    """
    item = _item_schema(spec, op)
    if item is None:
        return None
    required = [name for name in item.get("required") or () if isinstance(name, str)]
    properties = item.get("properties") or {}
    if "id" in required:
        return "id"
    for name in required:
        description = _deref(spec.document, properties.get(name)) or {}
        if isinstance(description, Mapping) and _UNIQUE.match(str(description.get("description") or "")):
            return name
    segments = op.path.strip("/").split("/")
    for i in range(len(segments) - 1, -1, -1):
        word = segments[i]
        if word.startswith("{") or (i + 1 < len(segments) and segments[i + 1].startswith("{")):
            continue
        for noun in (_singular(word), word):
            if f"{noun}_id" in required:
                return f"{noun}_id"
    for name in _GLOBAL_IDS:
        if name in required:
            return name
    ids = [name for name in required if name.endswith("_id")]
    return ids[0] if len(ids) == 1 else None


def diff_field(spec: SpecIndex, op: Operation) -> str | None:
    """The id field to diff ``op``'s bodies by if ``ESI_CHANGE_DIFFS`` asks for it, else None."""
    wanted = esi_settings.ESI_CHANGE_DIFFS
    if not wanted:
        return None
    named = wanted.items() if isinstance(wanted, Mapping) else ((name, None) for name in wanted)
    for name, field in named:
        if isinstance(name, str) and spec.resolve(name) == op.id:
            return str(field) if field else id_field(spec, op)
    return None


@register("esi_tasks")
def check_change_diffs(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Every ``ESI_CHANGE_DIFFS`` entry names an operation (of the default view) with a list answer
    and an id field: a wrong one would silently send no diff."""
    wanted = esi_settings.valid_or_none("ESI_CHANGE_DIFFS")  # a wrong type is esi's own check
    if not wanted:
        return []
    try:
        spec = get_client().spec
    except EsiError:
        return []  # the spec's own problem is reported where it is loaded
    named = wanted.items() if isinstance(wanted, Mapping) else ((name, None) for name in wanted)
    messages: list[CheckMessage] = []
    for name, field in named:
        if not isinstance(name, str) or name not in spec:
            shown = repr(name) if not isinstance(name, str) else str(spec.unknown(name))
            messages.append(
                CheckWarning(
                    f"ESI_CHANGE_DIFFS names {name!r}, which is no operation of ESI's view: {shown}",
                    hint="Name operations by their operationId, e.g. 'GetMarketsRegionIdOrders'.",
                    id="esi_tasks.W010",
                )
            )
            continue
        op = spec.get(name)
        item = _item_schema(spec, op)
        found = str(field) if field else id_field(spec, op)
        if item is None or found is None or found not in (item.get("properties") or {}):
            what = "no list of objects" if item is None else f"items without {found!r}" if found else "no id field"
            messages.append(
                CheckWarning(
                    f"ESI_CHANGE_DIFFS: {op.id} answers {what}, so its changes carry no diff.",
                    hint=f'Remove it, or name the id field of its items: ESI_CHANGE_DIFFS = {{"{op.id}": "<field>"}}.',
                    id="esi_tasks.W011",
                )
            )
    return messages


# --- comparing two bodies ---------------------------------------------------------------------


def _index(items: Any, field: str) -> dict[Any, Any] | None:
    """``{id: item}``, or None when ``items`` is no list of objects with distinct, hashable ids."""
    if not isinstance(items, list):
        return None
    out: dict[Any, Any] = {}
    for item in items:
        if not isinstance(item, dict) or field not in item:
            return None
        key = item[field]
        try:
            if key in out:
                return None  # not an id after all: a diff by it would be wrong
        except TypeError:
            return None
        out[key] = item
    return out


def diff(before: Any, after: Any, field: str) -> Diff | None:
    """The items of ``after`` added, removed and changed since ``before``, keyed by ``field``;
    None when either is not a list of objects with distinct ``field`` values."""
    old, new = _index(before, field), _index(after, field)
    if old is None or new is None:
        return None
    return Diff(
        id_field=field,
        added=[item for key, item in new.items() if key not in old],
        removed=[item for key, item in old.items() if key not in new],
        changed=[(old[key], item) for key, item in new.items() if key in old and old[key] != item],
    )


# --- the state in Redis -----------------------------------------------------------------------


def _encode(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def _decode(stored: bytes) -> Any:
    """A stored previous body, or None when it cannot be read (then there is no diff)."""
    try:
        return json.loads(zlib.decompress(stored))
    except (zlib.error, ValueError):
        return None


def _hash(body: bytes) -> bytes:
    return hashlib.blake2b(body, digest_size=16).digest()


def listening(sender: type | None) -> bool:
    """Whether an ``endpoint_changed`` receiver would hear a fetch sent by ``sender``."""
    return endpoint_changed.has_listeners(sender) if sender is not None else bool(endpoint_changed.receivers)


class CrawlDigest:
    """The hash of a streamed crawl's data, built as its pages arrive (in any order): one small hash
    per page is held, never a page, so the stream stays bounded."""

    def __init__(self) -> None:
        self._pages: dict[int, bytes] = {}

    def add(self, page: int, data: Any) -> None:
        self._pages[page] = _hash(_encode(data))

    def hexdigest(self) -> str:
        whole = hashlib.blake2b(digest_size=16)
        for page in sorted(self._pages):
            whole.update(self._pages[page])
        return whole.hexdigest()


def state_keys(resource: str) -> tuple[str, str]:
    """``(hash key, previous body key)`` of a resource (one hash tag: one Redis Cluster slot)."""
    base = f"{PREFIX}:changes:{{{resource}}}"
    return base, f"{base}:body"


def _ttl(outcome: FetchOutcome, op: Operation) -> int:
    """The resource's own lifetime (as the cache keeps it, capped) plus ``ESI_CHANGE_STATE_KEEP``."""
    if outcome.fresh_for is not None:
        lifetime = outcome.fresh_for
    elif outcome.expires is not None:
        lifetime = (outcome.expires - dt.datetime.now(dt.UTC)).total_seconds()
    else:
        lifetime = float(op.cache_age or 0)
    lifetime = min(max(0.0, lifetime), float(esi_settings.ESI_MAX_CACHE_SECONDS))
    return max(1, int(lifetime + esi_settings.ESI_CHANGE_STATE_KEEP))


def track(outcome: FetchOutcome, sender: type, task_id: str | None) -> None:
    """Send ``endpoint_changed`` if ``outcome``'s data changed since the last fetch of its resource."""
    prepared = outcome.prepared
    if prepared is None or outcome.resource is None or not endpoint_changed.has_listeners(sender):
        return
    op, spec = prepared.operation, prepared.client.spec
    if op.method != "get":
        return  # a write's answer is no resource's state
    if outcome.digest is not None:  # a streamed crawl: its data is a summary, its pages are gone
        field, body, digest = None, b"", outcome.digest
    else:
        field = diff_field(spec, op)
        body = _encode(outcome.data)
        digest = _hash(body).hex()
    meta = outcome.meta
    state = json.dumps({"hash": digest, "etag": meta.get("etag"), "last_modified": meta.get("last_modified")})
    state_key, body_key = state_keys(outcome.resource)
    ttl = _ttl(outcome, op)
    try:
        r = get_redis()
        pipe = r.pipeline(transaction=True)
        pipe.set(state_key, state, ex=ttl, get=True)
        if field is not None:
            pipe.expire(body_key, ttl)  # kept as long as the hash it belongs to
        raw = pipe.execute()[0]
        previous = json.loads(raw) if raw else None
        if previous is not None and previous.get("hash") == digest:
            return  # a 304, a copy from the cache or an equal body: no change
        changes = None
        if field is not None:
            before = r.set(body_key, zlib.compress(body, 1), ex=ttl, get=True)
            if previous is not None and isinstance(before, bytes):
                changes = diff(_decode(before), outcome.data, field)
    except REDIS_ERRORS as exc:
        logger.warning("Change feed of %s skipped: Redis did not answer (%s)", op.id, type(exc).__name__)
        return
    if changes is not None and not changes:
        return  # the same items in another order
    endpoint_changed.send(
        sender=sender,
        operation=outcome.operation,
        params=outcome.params,
        data=outcome.data,
        meta=meta,
        token_id=outcome.token_id,
        task_id=task_id,
        first_seen=previous is None,
        previous_etag=previous.get("etag") if previous else None,
        previous_last_modified=previous.get("last_modified") if previous else None,
        diff=changes,
    )
