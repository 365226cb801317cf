"""One line for a command's user instead of a traceback: what failed and what to do.

Management commands wrap their work in :func:`one_line_errors`: django-esi's own errors and a
Redis that does not answer become a ``CommandError`` (Django prints ``CommandError: ...`` and
exits with status 1; ``--traceback`` still shows the cause).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import redis
from django.core.management.base import CommandError

from esi.exceptions import EsiError

__all__ = ["one_line_errors", "redis_message"]


def redis_message(exc: BaseException, where: str = "ESI_REDIS_URL") -> str:
    """``Redis (ESI_REDIS_URL) does not answer (ConnectionError: ...); start it ...``."""
    detail = str(exc).splitlines()[0] if str(exc) else ""
    return (
        f"Redis ({where}) does not answer ({type(exc).__name__}{': ' + detail if detail else ''}); "
        f"start it, or point {where} at a running server."
    )


@contextlib.contextmanager
def one_line_errors() -> Iterator[None]:
    """Turn :class:`EsiError` and raw Redis errors raised inside the block into ``CommandError``."""
    try:
        yield
    except CommandError:
        raise
    except EsiError as exc:
        raise CommandError(f"{type(exc).__name__}: {exc}") from exc
    except redis.RedisError as exc:
        raise CommandError(redis_message(exc)) from exc
