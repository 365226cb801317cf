"""Servers the tests start on loopback: a free port, a wait until one answers, a private redis-server.

One place for what the suite's own conftests and ``tests/cluster`` did each in their own way.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable

import redis

__all__ = ["READY_WAIT", "free_port", "start_redis_server", "wait_until"]

READY_WAIT = 30.0  # seconds a server gets to come up (a busy 2-core machine)


def free_port() -> int:
    """A loopback port nothing listens on now (the OS's pick)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(what: str, ready: Callable[[], object], timeout: float = READY_WAIT, hint: str = "") -> None:
    """Poll ``ready`` (a Redis or socket error counts as not yet) until it is true; else RuntimeError."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if ready():
                return
        except (redis.RedisError, OSError):
            pass
        time.sleep(0.02)
    raise RuntimeError(f"{what} did not come up within {timeout:g} s" + (f"; {hint}" if hint else ""))


def start_redis_server() -> tuple[str, subprocess.Popen[bytes]]:
    """``redis-server`` without persistence on a free port, answering PING: its URL (db 0) and process."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not on PATH")
    port = free_port()
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    try:
        wait_until(f"redis-server on port {port}", client.ping)
    except RuntimeError:
        server.kill()
        server.wait(10)
        raise
    finally:
        client.close()
    return url, server
