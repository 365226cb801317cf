"""django-esi 10's task and callback helpers from ``esi.decorators``, on today's limits and SSO.

* ``@rate_limit_retry_task`` under ``@shared_task(bind=True)``: when ESI's rate limit or error
  limit is spent (:class:`~esi.exceptions.EsiLimited`), the task is re-queued with a countdown
  of the server's reset time instead of failing or sleeping (``task.retry(countdown=...)``).
  New code: run the call in ``esi_tasks.tasks.fetch_endpoint``, which does this for you.
* ``wait_for_esi_errorlimit_reset()``: kept as a decorator that re-raises; a worker never
  sleeps on a limit any more (see the upgrading guide).
* ``_check_callback(request)``: the token of the SSO login this browser just completed, or
  ``None`` (:func:`esi.login.take_callback_token`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from celery import Task
from django.http import HttpRequest

from esi.exceptions import EsiLimited
from esi.login import take_callback_token
from esi.models import Token

__all__ = ["_check_callback", "rate_limit_retry_task", "wait_for_esi_errorlimit_reset"]

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


def countdown_for(exc: EsiLimited) -> int:
    """Whole seconds until the limit resets (at least 1), so the retry runs after the reset."""
    return max(1, math.ceil(exc.retry_after))


def rate_limit_retry_task(func: F) -> F:
    """Re-queue the bound Celery task (first argument) when an ESI limit is spent."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except EsiLimited as exc:
            task = args[0] if args else None
            if not isinstance(task, Task):
                logger.error(
                    "%s: ESI limit reached, but it cannot be retried: its first argument is not a Celery task "
                    "(decorate a task made with @shared_task(bind=True)).",
                    getattr(func, "__qualname__", func),
                )
                raise
            countdown = countdown_for(exc)
            logger.info("%s: %s; re-queued in %d s", task.name, exc, countdown)
            raise task.retry(countdown=countdown, exc=exc) from exc

    return wrapper  # type: ignore[return-value]


def wait_for_esi_errorlimit_reset(*args: Any, **kwargs: Any) -> Callable[[F], F]:
    """django-esi 10 slept in the worker until the error limit reset; now the call raises
    :class:`~esi.exceptions.EsiErrorLimited` before sending, for the caller (or
    ``rate_limit_retry_task``) to re-queue. The decorator leaves the function as it is."""

    def decorator(func: F) -> F:
        return func

    return decorator


def _check_callback(request: HttpRequest) -> Token | None:
    """django-esi 10: the token SSO just returned to this browser for this URL, once; else ``None``."""
    return take_callback_token(request)
