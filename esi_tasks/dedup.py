"""De-duplication of identical fetches that are queued or running, through Redis.

Two claims, both ``SET NX`` with a TTL so that a lost worker never blocks a fetch for long:

* **queued** (``esi_tasks:dedup:q:<fetch>``): taken by ``fetch_endpoint.apply_async`` (so
  ``.delay``). A second identical ``.delay`` while the first is queued or running gets the
  *first task's* :class:`~celery.result.AsyncResult` back (same task id): ``.get()`` returns the
  same data, or raises the same error. Released when the task finishes.
* **running** (``esi_tasks:dedup:r:<fetch>``): taken by the worker right before it calls ESI.
  A copy that reaches a worker while another identical fetch runs (e.g. sent with ``link=``,
  in a chain, or with an explicit ``task_id``) is re-queued for a second and then, when the
  answer is cacheable, served from the ESI cache the first one filled.

Values are task ids, so a redelivered task (worker killed mid-task) recognises its own claim.
"""

from __future__ import annotations

import logging

from esi.redis import get_redis
from esi_tasks._keys import PREFIX
from esi_tasks._keys import text as _text

__all__ = ["claim", "extend", "holder", "queued_key", "release", "running_key"]

logger = logging.getLogger(__name__)

# Delete / extend the key only when it still holds our task id.
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
_EXTEND = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('expire', KEYS[1], ARGV[2]) end
return 0
"""


def queued_key(identity: str) -> str:
    return f"{PREFIX}:dedup:q:{identity}"


def running_key(identity: str) -> str:
    return f"{PREFIX}:dedup:r:{identity}"


def claim(key: str, task_id: str, ttl: float) -> str | None:
    """Claim ``key`` for ``task_id``; ``None`` when claimed (or already ours), else the holder's id."""
    r = get_redis()
    ttl_ms = max(1000, int(ttl * 1000))
    for _ in range(3):
        if r.set(key, task_id, nx=True, px=ttl_ms):
            return None
        current = r.get(key)
        if current is None:
            continue  # released between SET and GET: try again
        current_id = _text(current)
        if current_id == task_id:
            r.pexpire(key, ttl_ms)
            return None
        return current_id
    return None  # pragma: no cover - only under extreme churn; sending twice is safe


def holder(key: str) -> str | None:
    value = get_redis().get(key)
    return _text(value) if value is not None else None


def release(key: str, task_id: str) -> bool:
    """Release ``key`` if ``task_id`` holds it."""
    return bool(get_redis().eval(_RELEASE, 1, key, task_id))


def extend(key: str, task_id: str, ttl: float) -> bool:
    """Keep ``task_id``'s claim for another ``ttl`` seconds (a re-queued task is still queued)."""
    return bool(get_redis().eval(_EXTEND, 1, key, task_id, max(1, int(ttl + 0.999))))
