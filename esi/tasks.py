"""django-esi 10's Celery task names (``esi.tasks.cleanup_token``...), so upgraded beat schedules
keep running; Celery finds them here. They live in :mod:`esi.compat.tasks`."""

from esi.compat.tasks import (
    cleanup_callbackredirect,
    cleanup_token,
    cleanup_token_subset,
    refresh_or_delete_token,
)

__all__ = ["cleanup_callbackredirect", "cleanup_token", "cleanup_token_subset", "refresh_or_delete_token"]
