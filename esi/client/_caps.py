"""Bounds on what ESI sends: the caps of ``docs/security.md`` and their log line.

ESI's answers are not trusted without bounds: body size (``ESI_MAX_RESPONSE_BYTES``, counted
after decompression), total time per request (``ESI_REQUEST_DEADLINE``), pages per crawl
(``ESI_MAX_PAGES``) and cache lifetime (``ESI_MAX_CACHE_SECONDS``). Pauses ESI asks for are
capped by the limiter (``ESI_MAX_PAUSE``). Every capped value is logged once per process with
what ESI sent, so a bogus header shows up in the logs without flooding them.
"""

from __future__ import annotations

import logging
import threading

from esi.app_settings import esi_settings, settings_generation

__all__ = ["cap", "note_capped"]

logger = logging.getLogger("esi.client")

_MAX_NOTED = 1024  # distinct (setting, value) pairs remembered; beyond that nothing more is logged
_noted: set[tuple[str, str]] = set()
_lock = threading.Lock()


_values: tuple[int, dict[str, float]] = (-1, {})


def cap(name: str) -> float:
    """The value of the cap setting ``name`` (the system checks make sure it is at least 1); read
    once per settings generation (several caps are checked on every request)."""
    global _values
    gen, values = _values
    if gen != settings_generation():
        gen, values = _values = (settings_generation(), {})
    value = values.get(name)
    if value is None:
        value = values[name] = float(getattr(esi_settings, name))
    return value


def note_capped(name: str, sent: object, what: str) -> None:
    """Log once per process and value that ESI's ``what`` (``sent``) was cut to the cap ``name``."""
    key = (name, str(sent)[:200])
    with _lock:
        if key in _noted or len(_noted) >= _MAX_NOTED:
            return
        _noted.add(key)
    logger.warning("ESI sent %s %s; capped by %s = %s", what, key[1], name, getattr(esi_settings, name))
