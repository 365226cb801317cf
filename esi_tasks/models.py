"""``EndpointSchedule``: an ESI fetch scheduled from the admin, on top of django-celery-beat.

Each schedule owns one ``django_celery_beat.PeriodicTask`` (task ``esi_tasks.run_schedule``,
args ``[schedule id]``) that :mod:`esi_tasks.scheduling` keeps in step on every save.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django_celery_beat.models import PeriodicTask

from esi._dates import default_date
from esi_tasks import keep_fresh, scheduling

__all__ = ["EndpointSchedule"]


class EndpointSchedule(models.Model):
    """Fetch one ESI operation on a schedule: every N minutes, by crontab, or kept fresh."""

    KIND_INTERVAL = "interval"
    KIND_CRONTAB = "crontab"
    KIND_KEEP_FRESH = "keep_fresh"
    KIND_CHOICES = (
        (KIND_INTERVAL, "Every N minutes (spread by a stable offset)"),
        (KIND_CRONTAB, "Crontab"),
        (KIND_KEEP_FRESH, "Keep fresh (re-fetch when Expires passes)"),
    )
    STATUS_OK = "ok"
    STATUS_FAILED = "failed"
    STATUS_RETRYING = "retrying"
    STATUS_KEEPING_FRESH = "keeping fresh"

    name = models.CharField(max_length=150, unique=True, help_text="A name for this schedule, unique.")
    operation = models.CharField(max_length=100, help_text="The ESI operationId, e.g. GetMarketsRegionIdOrders.")
    params = models.JSONField(default=dict, blank=True, help_text='Parameters as JSON, e.g. {"region_id": 10000002}.')
    token = models.ForeignKey(
        "esi.Token",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Token to use; empty picks one of the character_id/corporation_id parameter's character.",
    )
    compatibility_date = models.CharField(
        max_length=10,
        blank=True,
        default="",
        help_text="ESI compatibility date (YYYY-MM-DD) the schedule was made for: its operation and parameters are "
        "those of that date's view, and every fetch sends it. Empty: ESI_COMPATIBILITY_DATE when saved.",
    )
    all_pages = models.BooleanField(default=False, help_text="Fetch every page of a paged operation.")
    language = models.CharField(max_length=8, blank=True, default="", help_text="Accept-Language, e.g. de.")
    kind = models.CharField(max_length=20, choices=KIND_CHOICES, default=KIND_INTERVAL)
    every_minutes = models.PositiveIntegerField(null=True, blank=True, help_text="For 'every N minutes'.")
    crontab = models.CharField(
        max_length=100,
        blank=True,
        default="",
        help_text="For 'crontab': minute hour day-of-month month day-of-week (UTC), e.g. '*/15 * * * *'.",
    )
    enabled = models.BooleanField(default=True)
    offset_seconds = models.PositiveIntegerField(
        default=0, editable=False, help_text="Stable random offset of this schedule within its period."
    )
    periodic_task = models.OneToOneField(
        PeriodicTask, on_delete=models.SET_NULL, null=True, blank=True, editable=False, related_name="+"
    )
    last_run_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_status = models.CharField(max_length=20, blank=True, default="", editable=False)
    last_result_items = models.PositiveIntegerField(null=True, blank=True, editable=False)
    last_result_bytes = models.PositiveIntegerField(null=True, blank=True, editable=False)
    last_error = models.TextField(blank=True, default="", editable=False)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("name",)
        verbose_name = "ESI endpoint schedule"
        permissions = (  # the write policy: see esi_tasks.permissions and docs/security.md
            ("schedule_write_operations", "Can schedule ESI operations that change game state"),
            ("use_any_token", "Can schedule ESI fetches with any user's token"),
        )

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<EndpointSchedule id={self.pk} name={self.name!r} operation={self.operation!r} kind={self.kind}>"

    @property
    def periodic_task_name(self) -> str:
        return f"esi endpoint: {self.name}"

    def fetch_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``fetch_endpoint`` (parameters included)."""
        kwargs: dict[str, Any] = dict(self.params or {})
        if self.compatibility_date:
            kwargs["compatibility_date"] = self.compatibility_date
        if self.token_id is not None:
            kwargs["token_id"] = self.token_id
        if self.all_pages:
            kwargs["all_pages"] = True
        if self.language:
            kwargs["language"] = self.language
        return kwargs

    def describe_schedule(self) -> str:
        if self.kind == self.KIND_KEEP_FRESH:
            return "keep fresh"
        if self.kind == self.KIND_CRONTAB:
            return f"crontab {self.crontab}"
        return f"every {self.every_minutes} min (+{self.offset_seconds} s)"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self.compatibility_date:  # the date it is made for stays with it
            self.compatibility_date = default_date()
        before = type(self).objects.filter(pk=self.pk).first() if self.pk else None
        super().save(*args, **kwargs)
        if kwargs.get("update_fields"):
            return
        if before is not None and before.kind == self.KIND_KEEP_FRESH:
            old = (before.operation, before.fetch_kwargs())
            if old != (self.operation, self.fetch_kwargs()) or self.kind != self.KIND_KEEP_FRESH:
                keep_fresh.cancel(before.operation, **before.fetch_kwargs())  # the old resource's chain
        scheduling.sync_periodic_task(self)
