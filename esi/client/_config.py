"""The settings the client reads on every call, as one snapshot: :class:`ClientConfig`.

Reading an ``ESI_*`` setting goes through Django's settings object each time; a call needs
half a dozen of them. :func:`config` reads them once and keeps the snapshot until the
:func:`settings_generation` changes: an ``ESI_*`` setting changed (``setting_changed``, which
``override_settings`` sends), the process forked, or :func:`forget` was called (``EsiClient.refresh()``,
after a change by plain assignment). The pool, the caps, the cache's Redis client and the
limiter's ``Config`` follow the same generation.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from django.core.signals import setting_changed  # the same signal; django.test costs ~50 ms to import

from esi.app_settings import esi_settings

__all__ = ["ClientConfig", "config", "forget", "settings_generation"]

_generation = 0


def _bump() -> None:
    global _generation
    _generation += 1


def _on_setting_changed(setting: str = "", **kwargs: Any) -> None:
    """override_settings (and anything else sending setting_changed) invalidates the snapshots."""
    if setting.startswith("ESI_") or setting == "SETTINGS_MODULE":
        _bump()


setting_changed.connect(_on_setting_changed, dispatch_uid="esi.client._config")
os.register_at_fork(after_in_child=_bump)  # a forked child must not reuse its parent's sockets


def settings_generation() -> int:
    """Bumped whenever an ``ESI_*`` setting changes through ``setting_changed``, after fork and by :func:`forget`."""
    return _generation


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """``ESI_API_URL`` (no trailing slash), ``ESI_CACHE_RESPONSE``, ``ESI_PAGE_CONCURRENCY`` and the
    server-error retry settings."""

    api_url: str
    cache_response: bool
    page_concurrency: int
    max_retries: int
    wait_exponent: float


_config: tuple[int, ClientConfig] | None = None


def config() -> ClientConfig:
    """The snapshot as of now (rebuilt after a settings change or a fork)."""
    global _config
    gen = settings_generation()
    cached = _config
    if cached is None or cached[0] != gen:
        s = esi_settings
        cached = (
            gen,
            ClientConfig(
                api_url=str(s.ESI_API_URL).rstrip("/"),
                cache_response=bool(s.ESI_CACHE_RESPONSE),
                page_concurrency=max(1, int(s.ESI_PAGE_CONCURRENCY)),
                max_retries=max(0, int(s.ESI_SERVER_ERROR_MAX_RETRIES)),
                wait_exponent=float(s.ESI_SERVER_ERROR_WAIT_EXPONENT),
            ),
        )
        _config = cached
    return cached[1]


def forget() -> None:
    """Read every setting again on the next call (after changing one by plain assignment)."""
    _bump()
