"""Small tasks used as callbacks in the tests (registered with the test app)."""

from __future__ import annotations

from typing import Any

from celery import shared_task


@shared_task(name="tests.count_keys")
def count_keys(data: Any) -> int:
    return len(data)
