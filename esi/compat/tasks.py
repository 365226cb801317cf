"""django-esi 10's Celery task names, kept so existing beat schedules keep working after an upgrade.

Sites running django-esi 10 schedule ``esi.tasks.cleanup_token`` and
``esi.tasks.cleanup_callbackredirect`` (Alliance Auth does, in ``CELERYBEAT_SCHEDULE``). These
thin tasks keep those names and their behaviour; new projects use ``esi_tasks`` instead
(``esi_tasks.refresh_tokens`` is the sweep that replaces ``cleanup_token``).
"""

from __future__ import annotations

import datetime as dt
import logging
from math import ceil

from celery import shared_task
from django.utils import timezone

from esi.exceptions import SSOUnavailable
from esi.models import CallbackRedirect, Token

logger = logging.getLogger(__name__)

__all__ = ["cleanup_callbackredirect", "cleanup_token", "cleanup_token_subset", "refresh_or_delete_token"]


@shared_task(name="esi.tasks.cleanup_callbackredirect")  # type: ignore[untyped-decorator]
def cleanup_callbackredirect(max_age: int = 300) -> int:
    """Delete SSO logins older than ``max_age`` seconds; returns how many."""
    deleted, _ = CallbackRedirect.objects.filter(created__lte=timezone.now() - dt.timedelta(seconds=max_age)).delete()
    return int(deleted)


def _queue_refreshes(fraction: int) -> int:
    """Delete orphaned tokens (django-esi 10 behaviour), then queue a refresh (or delete) of the
    oldest ``1/fraction`` of the expired refreshable tokens; returns how many were queued."""
    orphaned, _ = Token.objects.filter(user__isnull=True).delete()
    if orphaned:
        logger.info("Deleted %d orphaned token(s)", orphaned)
    expired = Token.objects.exclude(user__isnull=True).get_expired().filter(refresh_token__isnull=False)
    count = expired.count()
    token_ids = list(expired.order_by("created").values_list("pk", flat=True)[: ceil(count / max(1, fraction))])
    for token_id in token_ids:
        refresh_or_delete_token.apply_async(args=[token_id], priority=8)
    return len(token_ids)


@shared_task(name="esi.tasks.cleanup_token")  # type: ignore[untyped-decorator]
def cleanup_token() -> int:
    """Delete orphaned tokens, then queue a refresh (or delete) of every expired one; returns how many."""
    return _queue_refreshes(1)


@shared_task(name="esi.tasks.cleanup_token_subset")  # type: ignore[untyped-decorator]
def cleanup_token_subset(fraction: int = 48) -> int:
    """As :func:`cleanup_token`, for the oldest ``1/fraction`` of the expired tokens."""
    return _queue_refreshes(fraction)


@shared_task(
    name="esi.tasks.refresh_or_delete_token",
    autoretry_for=(SSOUnavailable,),
    retry_backoff=True,
    max_retries=5,
)  # type: ignore[untyped-decorator]
def refresh_or_delete_token(token_pk: int) -> None:
    """Refresh one token; delete it when SSO refuses it (an SSO outage is retried, never a reason to delete)."""
    token = Token.objects.filter(pk=token_pk).first()
    if token is not None:
        token.refresh_or_delete()
