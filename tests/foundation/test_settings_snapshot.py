"""``esi.app_settings.snapshot``: one settings snapshot helper, rebuilt on change, ``forget()`` and fork."""

from __future__ import annotations

import multiprocessing
from typing import Any

from django.test import override_settings

from esi.app_settings import esi_settings, forget, snapshot
from esi.client._config import config as client_config
from esi.client.limits._rules import config as limits_config

builds: list[Any] = []


@snapshot
def timeout() -> Any:
    builds.append(1)
    return esi_settings.ESI_REQUESTS_READ_TIMEOUT


def _in_child(queue: Any) -> None:
    before = len(builds)
    timeout()
    queue.put(len(builds) - before)


def test_a_snapshot_is_built_once_then_again_after_a_change_or_forget() -> None:
    builds.clear()
    first = timeout()
    assert timeout() == first and len(builds) == 1
    with override_settings(ESI_REQUESTS_READ_TIMEOUT=first + 7):
        assert timeout() == first + 7 and len(builds) == 2
    assert timeout() == first and len(builds) == 3  # the override ended: setting_changed again
    with override_settings(DEBUG=True):  # not an ESI_ setting: kept
        timeout()
    assert len(builds) == 3
    forget()
    timeout()
    assert len(builds) == 4


def test_a_forked_child_builds_its_own() -> None:
    timeout()
    queue = multiprocessing.get_context("fork").Queue()
    child = multiprocessing.get_context("fork").Process(target=_in_child, args=(queue,))
    child.start()
    assert queue.get(timeout=30) == 1
    child.join(30)


def test_the_client_and_the_limiter_use_it() -> None:
    with override_settings(ESI_API_URL="https://esi.example/", ESI_ERROR_LIMIT_THRESHOLD=33):
        assert client_config().api_url == "https://esi.example"
        assert limits_config().threshold == 33
    assert limits_config().threshold != 33
