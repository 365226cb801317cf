"""Batches of bucket reservations, so a busy process needs Redis for one request in several.

A process that keeps calling one rate-limit group asks the reserve script for more than one
reservation at a time (2 tokens each, booked in the shared bucket at once, so every other
process sees them spent). It hands them to its next requests without a round trip while its
view is fresh (:data:`TRUST` seconds). The batch size adapts: it doubles (up to
:data:`MAX_BATCH`) when a batch was used up while fresh, and shrinks to what was used when
reservations were left over. Leftovers are given back with the next reserve script; if the
process never comes back they lapse by themselves after their lifetime (the script books spare
reservations so), never holding tokens for a whole window. The script never hands one batch
more than a sixteenth of the tokens left, so other processes are not starved and small buckets are
not batched at all.

Exactness is kept: every reservation is booked in Redis before its request is sent, and its
settle re-books it at the answer, as for a single reservation.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MAX_BATCH", "TRUST", "TokenBatches"]

TRUST = 0.25
MAX_BATCH = 32

_Key = tuple[Any, str]  # (RateLimitGroup, identity)


@dataclass
class _Batch:
    size: int
    until: float
    ids: list[str] = field(default_factory=list)


class TokenBatches:
    """The reservations this process holds per (group, identity); fork-safe, thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid = -1
        self._batches: dict[_Key, _Batch] = {}

    def _own(self) -> None:
        if self._pid != os.getpid():  # a forked child must never use the parent's reservations
            self._batches = {}
            self._pid = os.getpid()

    def take(self, key: _Key) -> str | None:
        """A reservation held for ``key`` and still fresh, or None (ask Redis)."""
        with self._lock:
            self._own()
            batch = self._batches.get(key)
            if batch is not None and batch.ids and time.monotonic() < batch.until:
                return batch.ids.pop()
            return None

    def plan(self, key: _Key) -> tuple[int, list[str]]:
        """-> (how many reservations to ask for, the stale ones to give back)."""
        with self._lock:
            self._own()
            batch = self._batches.get(key)
            if batch is None:
                return 1, []
            drop, batch.ids = batch.ids, []
            if drop:
                return max(1, batch.size - len(drop)), drop
            if time.monotonic() < batch.until:
                return min(MAX_BATCH, batch.size * 2), []
            return max(1, batch.size // 2), []

    def store(self, key: _Key, first: int, count: int) -> str:
        """Keep reservations ``first + 1 .. first + count - 1``; -> ``first`` for the caller."""
        with self._lock:
            self._own()
            spares = [str(first + i) for i in range(count - 1, 0, -1)]
            batch = self._batches.get(key)
            until = time.monotonic() + TRUST
            if batch is None:
                self._batches[key] = _Batch(count, until, spares)
            else:  # another thread may have stored a batch meanwhile: keep both
                batch.ids.extend(spares)
                batch.size, batch.until = count, until
            return str(first)

    def distrust(self, group: str | None = None) -> None:
        """A pause was seen (a 420: every group; a 429: ``group``): ask Redis before the next request."""
        with self._lock:
            for (key_group, _), batch in self._batches.items():
                if group is None or key_group.name == group:
                    batch.until = 0.0

    def drain(self) -> dict[_Key, list[str]]:
        """Forget every held reservation; -> them, to be given back (shutdown, tests)."""
        with self._lock:
            held = {k: b.ids for k, b in self._batches.items() if b.ids} if self._pid == os.getpid() else {}
            self._batches = {}
            return held
