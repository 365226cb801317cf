"""What the chaos run's Redis did with each task message, read back from its append-only file.

kombu's Redis transport takes a message off its queue (``BRPOP``, written to the AOF as
``RPOP``) and records it as unacknowledged (``ZADD unacked_index`` + ``HSET unacked``) in a
second round trip. A message taken by a process that dies (or whose Redis dies) between the two
exists nowhere any more: :func:`vanished` finds those by replaying the AOF, so the run can tell
a message lost in that gap (a documented kombu limit, docs/reliability.md) from any other loss.
The chaos Redis never rewrites its AOF (``auto-aof-rewrite-percentage 0``), so it holds the
whole history.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Vanished", "commands", "vanished"]


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


def commands(directory: Path) -> Iterator[list[bytes]]:
    """Every command of the AOF in ``directory``; a command cut short by a SIGKILL ends it."""
    for path in _incr_files(directory):
        data = path.read_bytes()
        i = 0
        while i < len(data):
            if data[i : i + 1] != b"*":
                i += 1
                continue
            try:
                end = data.index(b"\r\n", i)
                count = int(data[i + 1 : end])
                i = end + 2
                args = []
                for _ in range(count):
                    end = data.index(b"\r\n", i)
                    length = int(data[i + 1 : end])
                    i = end + 2
                    args.append(data[i : i + length])
                    i += length + 2
            except ValueError:
                return
            if i > len(data):
                return  # the last command, cut short
            yield args


def _task(raw: bytes) -> tuple[str, str, str] | None:
    """(task id, task name, delivery tag) of a Celery task message; None for anything else."""
    try:
        message = json.loads(raw)
        headers = message["headers"]
        return headers["id"], headers["task"], message["properties"]["delivery_tag"]
    except (ValueError, KeyError, TypeError):
        return None


def vanished(directory: Path) -> list[Vanished]:
    """Task messages taken off a queue (db 0) and never recorded as unacknowledged."""
    lists: dict[bytes, list[bytes]] = {}
    taken: dict[str, Vanished] = {}
    recorded: set[str] = set()
    clock = 0.0
    db = 0
    for args in commands(directory):
        op = args[0].upper()
        if op == b"SELECT":
            db = int(args[1])
            continue
        if db != 0 or len(args) < 2:
            continue
        key = args[1]
        if op == b"HSET" and key == b"unacked" and len(args) > 2:
            recorded.add(args[2].decode())
        elif op == b"ZADD" and key == b"unacked_index" and len(args) > 2:
            with contextlib.suppress(ValueError):
                clock = float(args[2])
        elif op in (b"LPUSH", b"RPUSH"):
            items = lists.setdefault(key, [])
            for value in args[2:]:
                if op == b"LPUSH":
                    items.insert(0, value)
                else:
                    items.append(value)
        elif op in (b"RPOP", b"LPOP"):
            items = lists.get(key, [])
            if items:
                found = _task(items.pop() if op == b"RPOP" else items.pop(0))
                if found is not None:
                    task_id, task, tag = found
                    taken[tag] = Vanished(task_id, task, tag, key.decode(errors="replace"), clock)
        elif op in (b"DEL", b"UNLINK"):
            for name in args[1:]:
                lists.pop(name, None)
    return [message for tag, message in taken.items() if tag not in recorded]
