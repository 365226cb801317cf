"""This process's share of ESI's error limit: units held in Redis, reused without a round trip.

A request on a route without a rate-limit group may become an error, so it must hold one
*unit* of the error budget while in flight (``P inflight`` in Redis; every process counts
every unit). Taking a fresh unit for each request would put a Redis round trip on every
call; instead a process keeps the units its requests hand back after a success and reuses
them while its view of the shared state is recent (:data:`TRUST` seconds). An error consumes
its unit (the error is then in ``remain``), so near the threshold every request asks Redis.

A heartbeat thread (one per process, only while it holds units) keeps the units of requests
in flight alive (their Redis expiry is :data:`UNIT_TTL`), refreshes the view of the shared
state — a pause set by any process reaches this one within :data:`HEARTBEAT` seconds — and
gives the units of an idle process back after :data:`IDLE` seconds.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from esi.client import _limits_lua as lua
from esi.client._limits_redis import ScriptPipe

__all__ = ["HEARTBEAT", "IDLE", "TRUST", "UNIT_TTL", "ErrorUnits"]

logger = logging.getLogger(__name__)

HEARTBEAT = 0.1
TRUST = 0.3
UNIT_TTL = 3.0
IDLE = 1.0


class ErrorUnits:
    """Units of the shared error budget held by this process (fork-safe, thread-safe)."""

    def __init__(
        self,
        pipe: ScriptPipe,
        err_key: str,
        inflight_key: str,
        params: Callable[[], tuple[int, float, int]],
        on_pause: Callable[[], None] = lambda: None,
    ) -> None:
        self._pipe = pipe
        self._on_pause = on_pause  # the heartbeat saw a pause: other cached views must go too
        self._keys = (err_key, inflight_key)
        self._params = params  # -> (threshold, hold retry, assumed error limit)
        self._lock = threading.Lock()
        self._pid = -1
        self._reset()

    def _reset(self) -> None:
        self._prefix = os.urandom(6).hex()
        self._count = 0
        self._held: set[str] = set()
        self._free: list[str] = []
        self._trusted_until = 0.0
        self._last_use = 0.0
        self._known_remain: int | None = None
        self._thread: threading.Thread | None = None
        self._failing = False

    def _own(self) -> None:
        pid = os.getpid()
        if self._pid != pid:  # a forked child: the parent's units and thread are not ours
            self._reset()
            self._pid = pid

    def _run(self, new: str, keep: list[str], drop: list[str]) -> tuple[int, Any]:
        threshold, hold, assumed = self._params()
        args = (threshold, UNIT_TTL, hold, assumed, new, len(keep), *keep, *drop)
        code, value = self._pipe.call(lua.LEASE, self._keys, args)
        return int(code), value

    def take(self) -> tuple[int, Any]:
        """-> (0, unit name) or the script's refusal (code, retry seconds)."""
        with self._lock:
            self._own()
            now = time.monotonic()
            self._last_use = now
            if self._free and now < self._trusted_until:
                return 0, self._free.pop()
            drop, self._free = self._free, []
            in_use = [u for u in self._held if u not in drop]
            self._count += 1
            unit = f"{self._prefix}:{self._count}"
            self._held = set(in_use)
            code, value = self._run(unit, in_use, drop)
            if code != 0:
                self._trusted_until = 0.0
                return code, value
            self._held.add(unit)
            self._trusted_until = now + TRUST
            self._known_remain = int(float(value)) if value else None
            self._start_heartbeat()
            return 0, unit

    def give_back(self, unit: str, remain: int | None, threshold: int) -> bool:
        """A success handed its unit back. -> True when ``remain`` is news Redis must record
        (it changed: errors elsewhere, a new window, a limit not seen before)."""
        with self._lock:
            if self._pid != os.getpid() or unit not in self._held:
                return remain is not None
            self._free.append(unit)
            if remain is None:
                return False
            known, self._known_remain = self._known_remain, remain
            if remain <= threshold:
                self._trusted_until = 0.0
            return remain != known or remain <= threshold

    def consume(self, unit: str) -> None:
        """An error (or a 420, or no answer) used its unit up; ask Redis before the next request."""
        with self._lock:
            self._held.discard(unit)
            self._trusted_until = 0.0

    def distrust(self) -> None:
        """Something changed the shared state: the next request asks Redis."""
        self._trusted_until = 0.0

    # --- heartbeat ------------------------------------------------------------------------------

    def _start_heartbeat(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._beat, name="esi-limits-heartbeat", daemon=True)
            self._thread.start()

    def _beat(self) -> None:
        pid = os.getpid()
        while True:
            time.sleep(HEARTBEAT)
            with self._lock:
                if self._pid != pid or self._thread is not threading.current_thread():
                    return
                if not self._held:
                    self._thread = None
                    return
                now = time.monotonic()
                idle = len(self._free) == len(self._held) and now - self._last_use > IDLE
                keep, drop = ([], list(self._held)) if idle else (list(self._held), [])
                try:
                    code, value = self._run("", keep, drop)
                except Exception as exc:  # Redis away: stop trusting, keep beating, say it once
                    (logger.debug if self._failing else logger.warning)(
                        "ESI limits heartbeat could not reach Redis: %s", exc
                    )
                    self._failing = True
                    self._trusted_until = 0.0
                    continue
                self._failing = False
                if idle:
                    self._held, self._free, self._trusted_until = set(), [], 0.0
                    self._thread = None
                    return
                if code == 0:
                    self._trusted_until = now + TRUST
                    self._known_remain = int(float(value)) if value else self._known_remain
                else:
                    self._trusted_until = 0.0
                    self._on_pause()

    def close(self) -> None:
        """Give every unit back and stop the heartbeat (tests, shutdown)."""
        with self._lock:
            held = list(self._held) if self._pid == os.getpid() else []
            self._held, self._free, self._trusted_until, self._thread = set(), [], 0.0, None
            if held:
                try:
                    self._run("", [], held)
                except Exception as exc:
                    logger.warning("Could not give ESI error-limit units back: %s", exc)

    def stats(self) -> dict[str, int]:
        """Units this process holds and how many of them are free (for snapshots)."""
        with self._lock:
            if self._pid != os.getpid():
                return {"held": 0, "free": 0}
            return {"held": len(self._held), "free": len(self._free)}
