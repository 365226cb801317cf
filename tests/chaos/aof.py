"""What the chaos run's Redis did with each task message, read back from its append-only file.

kombu's Redis transport takes a message off its queue (``BRPOP``, written to the AOF as
``RPOP``) and records it as unacknowledged (``ZADD unacked_index`` + ``HSET unacked``) in a
second round trip. A message taken by a process that dies (or whose Redis dies) between the two
exists nowhere any more, until esi_tasks' ledger pushes it back (``RPUSH``, esi_tasks.transport)
and a worker takes and records it. :func:`vanished` replays the whole AOF and lists the task
messages taken and never recorded afterwards: the ones the ledger did not bring back (the run
requires none). The chaos Redis never rewrites its AOF (``auto-aof-rewrite-percentage 0``), so
it holds the whole history; :class:`Replay` can read it as it grows.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Replay", "Vanished", "vanished"]


@dataclass(frozen=True)
class Vanished:
    """A task message taken off ``queue`` and never recorded as unacknowledged."""

    task_id: str
    task: str
    delivery_tag: str
    queue: str
    #: Unix time of the last message recorded as unacknowledged before it was taken (the AOF
    #: has no clock of its own): when it vanished, to a few milliseconds on a busy queue.
    after: float


def _incr_files(directory: Path) -> list[Path]:
    """The AOF's incremental files in the manifest's order (the base is the empty start)."""
    manifest = next(directory.glob("*.manifest"), None)
    if manifest is None:
        return sorted(directory.glob("*.incr.aof"))
    files: list[tuple[int, Path]] = []
    for line in manifest.read_text().splitlines():
        fields = line.split()
        entry = dict(zip(fields[::2], fields[1::2]))
        if entry.get("type") == "i":
            files.append((int(entry["seq"]), directory / entry["file"]))
    return [path for _, path in sorted(files)]


def _command(data: bytes, i: int) -> tuple[list[bytes], int] | None:
    """The command starting at ``data[i]`` and where the next one starts; None when cut short."""
    try:
        end = data.index(b"\r\n", i)
        count = int(data[i + 1 : end])
        i = end + 2
        args = []
        for _ in range(count):
            end = data.index(b"\r\n", i)
            length = int(data[i + 1 : end])
            i = end + 2
            if i + length + 2 > len(data):
                return None
            args.append(data[i : i + length])
            i += length + 2
    except ValueError:
        return None
    return args, i


def _task(raw: bytes) -> tuple[str, str, str] | None:
    """(task id, task name, delivery tag) of a Celery task message; None for anything else."""
    try:
        message = json.loads(raw)
        headers = message["headers"]
        return headers["id"], headers["task"], message["properties"]["delivery_tag"]
    except (ValueError, KeyError, TypeError):
        return None


class Replay:
    """The queues (db 0) as the AOF has them, replayed as far as it is written."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.offsets: dict[Path, int] = {}
        self.lists: dict[bytes, deque[bytes]] = {}
        self.taken: dict[str, Vanished] = {}  # delivery tag -> message taken, not (yet) recorded
        self.seen: dict[str, float] = {}  # delivery tag -> when this replay first saw it so
        self.clock = 0.0
        self.db = 0

    def advance(self) -> None:
        """Replay what was written since the last call (a command cut short waits for the next)."""
        for path in _incr_files(self.directory):
            data = path.read_bytes()
            i = self.offsets.get(path, 0)
            while i < len(data):
                if data[i : i + 1] != b"*":
                    i += 1
                    continue
                found = _command(data, i)
                if found is None:
                    break
                self._apply(found[0])
                i = found[1]
            self.offsets[path] = i
        now = time.monotonic()
        for tag in self.taken:
            self.seen.setdefault(tag, now)

    def _apply(self, args: list[bytes]) -> None:
        op = args[0].upper()
        if op == b"SELECT":
            self.db = int(args[1])
            return
        if self.db != 0 or len(args) < 2:
            return
        key = args[1]
        if op == b"HSET" and key == b"unacked" and len(args) > 2:
            tag = args[2].decode()
            self.taken.pop(tag, None)
            self.seen.pop(tag, None)
        elif op == b"ZADD" and key == b"unacked_index" and len(args) > 2:
            with contextlib.suppress(ValueError):
                self.clock = float(args[2])
        elif op in (b"LPUSH", b"RPUSH"):
            items = self.lists.setdefault(key, deque())
            for value in args[2:]:
                if op == b"LPUSH":
                    items.appendleft(value)
                else:
                    items.append(value)
        elif op in (b"RPOP", b"LPOP"):
            items = self.lists.get(key)
            if items:
                found = _task(items.pop() if op == b"RPOP" else items.popleft())
                if found is not None:
                    task_id, task, tag = found
                    self.taken[tag] = Vanished(task_id, task, tag, key.decode(errors="replace"), self.clock)
        elif op in (b"DEL", b"UNLINK"):
            for name in args[1:]:
                self.lists.pop(name, None)

    def vanished(self, settled: float = 0.0) -> list[Vanished]:
        """Task messages taken and not recorded as unacknowledged ``settled`` s after this replay
        first saw them taken (0: as of now, for a Redis that is done)."""
        now = time.monotonic()
        return [m for tag, m in self.taken.items() if now - self.seen.get(tag, now) >= settled]


def vanished(directory: Path) -> list[Vanished]:
    """Task messages taken off a queue (db 0) and never recorded as unacknowledged."""
    replay = Replay(directory)
    replay.advance()
    return replay.vanished()
