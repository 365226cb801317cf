"""The settings the client reads on every call, as one snapshot: :class:`ClientConfig`.

Reading an ``ESI_*`` setting goes through Django's settings object each time; a call needs
half a dozen of them. :func:`config` is a :func:`~esi.app_settings.snapshot`: read once, rebuilt
after an ``ESI_*`` setting changed (``setting_changed``, which ``override_settings`` sends), a
fork, or :func:`~esi.app_settings.forget` (``EsiClient.refresh()``, after a change by plain
assignment). The pool, the caps, the cache's Redis client and the limiter's ``Config`` follow
the same :func:`~esi.app_settings.settings_generation`.
"""

from __future__ import annotations

from dataclasses import dataclass

from esi.app_settings import esi_settings, forget, settings_generation, snapshot

__all__ = ["ClientConfig", "config", "forget", "settings_generation"]


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """``ESI_API_URL`` (no trailing slash), ``ESI_CACHE_RESPONSE``, ``ESI_PAGE_CONCURRENCY`` and the
    server-error retry settings."""

    api_url: str
    cache_response: bool
    page_concurrency: int
    max_retries: int
    wait_exponent: float


@snapshot
def config() -> ClientConfig:
    """The client's settings as of now (rebuilt after a settings change or a fork)."""
    s = esi_settings
    return ClientConfig(
        api_url=str(s.ESI_API_URL).rstrip("/"),
        cache_response=bool(s.ESI_CACHE_RESPONSE),
        page_concurrency=max(1, int(s.ESI_PAGE_CONCURRENCY)),
        max_retries=max(0, int(s.ESI_SERVER_ERROR_MAX_RETRIES)),
        wait_exponent=float(s.ESI_SERVER_ERROR_WAIT_EXPONENT),
    )
