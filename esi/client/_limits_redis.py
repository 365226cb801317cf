"""Runs the limiter's Lua scripts with at most one Redis round trip per ESI request.

``acquire`` must wait for its answer (it decides whether the request may go out). A settle
need not, and is handled one of two ways:

- :meth:`ScriptPipe.send` writes its EVALSHA to a dedicated connection and returns at once.
  Redis runs the script as soon as the bytes arrive, so other processes see it immediately;
  the reply is read (and checked) in front of this process's next :meth:`ScriptPipe.call`.
- :meth:`ScriptPipe.defer` (settles that only confirm what was reserved) does not even write:
  the command rides along with the next :meth:`ScriptPipe.call` in the same ``sendall``, or a
  flusher thread writes it after at most :data:`DEFER_MAX` seconds. ``age`` tells the script
  how long ago the answer came, so its tokens are booked at the answer's time.

The dedicated connection belongs to one process (rebuilt after ``fork``) and is shared by its
threads under a lock; the lock is held for a send, or for a send plus the reads.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import redis
from redis.commands.core import Script
from redis.exceptions import NoScriptError

__all__ = ["DEFER_MAX", "ScriptPipe"]

logger = logging.getLogger(__name__)

_MAX_PENDING = 64
#: Longest time a deferred settle waits for a ride before the flusher thread writes it.
DEFER_MAX = 0.05

_Command = tuple[str, Sequence[Any], Sequence[Any]]


def _bulk(value: Any) -> bytes:
    raw = value if isinstance(value, bytes) else str(value).encode()
    return b"$%d\r\n%b\r\n" % (len(raw), raw)


class ScriptPipe:
    """EVALSHA over a connection of our own, with fire-and-forget sends read back later."""

    def __init__(self, client_factory: Callable[[], redis.Redis], sources: Sequence[str]) -> None:
        self._client_factory = client_factory
        self._sources = tuple(sources)
        self._lock = threading.Lock()
        self._pid = -1
        self._client: redis.Redis | None = None
        self._conn: Any = None
        self._scripts: dict[str, Script] = {}
        self._heads: dict[tuple[str, tuple[Any, ...]], bytes] = {}
        self._pending: deque[_Command] = deque()
        self._deferred: list[tuple[float, _Command]] = []
        self._wake = threading.Event()
        self._flusher_pid = -1
        atexit.register(self.flush)

    # --- connection --------------------------------------------------------------------------

    def _connection(self) -> Any:
        """This process's connection (new after fork or when the Redis client changed)."""
        client = self._client_factory()
        if self._conn is None or self._pid != os.getpid() or client is not self._client:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.disconnect()
            else:
                self._deferred.clear()  # a forked child: the parent's commands are not ours
            pool = client.connection_pool
            kwargs = dict(pool.connection_kwargs)
            kwargs["health_check_interval"] = 0  # a PING would read a deferred reply as its own
            self._conn = pool.connection_class(**kwargs)
            self._client, self._pid = client, os.getpid()
            self._scripts = {src: client.register_script(src) for src in self._sources}
            for script in self._scripts.values():
                client.script_load(script.script)  # EVALSHA from the first request on
            self._pending.clear()
        return self._conn

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.disconnect()
        self._pending.clear()

    def _pack(self, source: str, keys: Sequence[Any], args: Sequence[Any]) -> bytes:
        """RESP for ``EVALSHA sha n keys... args...`` (the fixed head is encoded once)."""
        head_key = (source, tuple(keys))
        head = self._heads.get(head_key)
        if head is None:
            if len(self._heads) > 4096:
                self._heads.clear()
            sha = self._scripts[source].sha
            head = b"".join(_bulk(x) for x in ("EVALSHA", sha, str(len(keys)), *keys))
            self._heads[head_key] = head
        parts = [b"*%d\r\n" % (3 + len(keys) + len(args)), head]
        parts.extend(_bulk(a) for a in args)
        return b"".join(parts)

    def _take_deferred(self) -> list[bytes]:
        """Pack the deferred commands (with their age) and move them to the pending replies."""
        if not self._deferred:
            return []
        now = time.monotonic()
        packed = []
        for at, (source, keys, args) in self._deferred:
            full = (*args, repr(now - at))
            packed.append(self._pack(source, keys, full))
            self._pending.append((source, keys, full))
        self._deferred.clear()
        return packed

    def _drain(self, conn: Any) -> None:
        """Read the replies of earlier sends; a script Redis had forgotten is run again."""
        while self._pending:
            source, keys, args = self._pending.popleft()
            try:
                conn.read_response()
            except NoScriptError:
                self._run_fresh(source, keys, args)
            except redis.ResponseError as exc:
                logger.error("A deferred limiter script failed in Redis: %s", exc)

    def _run_fresh(self, source: str, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        """Run through redis-py's Script (loads it when Redis lost it, e.g. after a restart)."""
        return self._scripts[source](keys=list(keys), args=list(args), client=self._client)

    # --- public --------------------------------------------------------------------------------

    def call(self, source: str, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        """Run a script and return its result (deferred commands ride along in the same write)."""
        with self._lock:
            for attempt in (1, 2):
                conn = self._connection()
                try:
                    conn.send_packed_command(
                        [b"".join([*self._take_deferred(), self._pack(source, keys, args)])], False
                    )
                    self._drain(conn)
                    try:
                        return conn.read_response()
                    except NoScriptError:
                        return self._run_fresh(source, keys, args)
                except (redis.ConnectionError, redis.TimeoutError, OSError):
                    self._drop()
                    if attempt == 2:
                        raise
            raise AssertionError("unreachable")  # pragma: no cover

    def send(self, source: str, keys: Sequence[Any], args: Sequence[Any]) -> None:
        """Run a script without waiting for its result (errors are logged when it is read)."""
        with self._lock:
            try:
                conn = self._connection()
                if len(self._pending) >= _MAX_PENDING:
                    self._drain(conn)
                conn.send_packed_command([b"".join([*self._take_deferred(), self._pack(source, keys, args)])], False)
                self._pending.append((source, keys, args))
            except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                self._drop()
                logger.warning("Could not record an ESI response in Redis (%s); the budget corrects itself", exc)

    def defer(self, source: str, keys: Sequence[Any], args: Sequence[Any]) -> None:
        """Run a script soon (within :data:`DEFER_MAX`); the script gets the delay as a last argument."""
        with self._lock:
            if self._pid != os.getpid():
                try:
                    self._connection()
                except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                    logger.warning("Could not record an ESI response in Redis (%s); the budget corrects itself", exc)
                    return
            self._deferred.append((time.monotonic(), (source, keys, args)))
            if self._flusher_pid != os.getpid():
                self._flusher_pid = os.getpid()
                threading.Thread(target=self._flush_loop, name="esi-limits-flusher", daemon=True).start()
        self._wake.set()

    def _flush_loop(self) -> None:
        pid = os.getpid()
        while self._flusher_pid == pid:
            self._wake.wait()
            time.sleep(DEFER_MAX)
            self._wake.clear()
            self._write_deferred()

    def _write_deferred(self) -> None:
        with self._lock:
            if not self._deferred or self._pid != os.getpid():
                return
            try:
                conn = self._connection()
                if len(self._pending) >= _MAX_PENDING:
                    self._drain(conn)
                conn.send_packed_command([b"".join(self._take_deferred())], False)
            except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                self._drop()
                logger.warning("Could not record ESI responses in Redis (%s); the budget corrects itself", exc)

    def flush(self) -> None:
        """Write every deferred command and wait for every reply (tests, shutdown)."""
        self._write_deferred()
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                try:
                    self._drain(self._conn)
                except (redis.ConnectionError, redis.TimeoutError, OSError):
                    self._drop()
