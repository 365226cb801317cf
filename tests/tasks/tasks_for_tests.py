"""Small tasks used as callbacks in the tests (registered with the test app)."""

from __future__ import annotations

from typing import Any

from celery import shared_task


@shared_task(name="tests.count_keys")
def count_keys(data: Any) -> int:
    return len(data)


@shared_task(name="tests.collect_page")
def collect_page(data: Any, **facts: Any) -> int:
    """An ``on_page`` callback: records which page came, with how many rows, in Redis."""
    import json

    from esi.redis_pool import get_redis

    get_redis().rpush("tests:pages", json.dumps({**facts, "rows": len(data)}))
    return len(data)
