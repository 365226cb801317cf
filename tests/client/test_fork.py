"""A forked child (Celery prefork) gets its own httpx client and Redis pool, and works."""

from __future__ import annotations

import os
from typing import Any

from esi.client import EsiClient

from .conftest import RecordingLimiter


def test_forked_child_builds_a_new_http_client(esi_sim: Any, redis_client: Any) -> None:
    client = EsiClient(limiter=RecordingLimiter())
    assert client.call("GetStatus").status == 200
    parent_http = client.transport.client
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            os.close(read)
            child_http = client.transport.client
            r = client.call("GetStatus", force_refresh=True)
            ok = child_http is not parent_http and r.status in (200, 304) and not r.from_cache
            os.write(write, b"ok" if ok else b"bad")
            code = 0
        except BaseException as exc:  # pragma: no cover - reported to the parent
            os.write(write, repr(exc).encode()[:200])
        finally:
            os._exit(code)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    message = os.read(read, 300)
    os.close(read)
    assert os.WEXITSTATUS(status) == 0 and message == b"ok", message
    assert client.transport.client is parent_http  # the parent keeps its pool
    assert client.call("GetStatus", force_refresh=True).data is not None
    assert sum(esi_sim.stats()["by_route"]["GetStatus"].values()) == 3  # parent, child, parent again
