"""Admin for ``EndpointSchedule``: schedule an ESI fetch without writing code.

The operation is picked from the view of the schedule's compatibility date (a searchable list
of operationIds with their summaries), the parameters and the token are checked against that
view before anything is saved, and the beat entry (``django_celery_beat.PeriodicTask``)
follows the schedule.

Who may do what is :mod:`esi_tasks.permissions`: writes need their own permission, a schedule
uses only a token its editor may use, and the actions need ``change_endpointschedule``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from celery.schedules import crontab
from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.timesince import timesince

from esi._dates import check_date, default_date
from esi.client import get_client
from esi.exceptions import EsiRequestError
from esi_tasks import permissions, scheduling
from esi_tasks.broker import BROKER_ERRORS, QUICK_RETRY, broker_problem
from esi_tasks.models import EndpointSchedule
from esi_tasks.tasks import run_schedule

__all__ = ["EndpointScheduleAdmin", "EndpointScheduleForm"]


class OperationInput(forms.TextInput):
    """A text input backed by a ``<datalist>`` of every operationId of one view (``compatibility_date``;
    the default client's when None): browsers search it as you type."""

    compatibility_date: str | None = None

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__({"list": "esi-operations", "autocomplete": "off", "size": 50, **(attrs or {})})

    def render(self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None) -> SafeString:
        html = super().render(name, value, attrs, renderer)
        spec = get_client(self.compatibility_date).spec
        options = format_html_join(
            "", '<option value="{}">{}</option>', ((op_id, spec.get(op_id).summary) for op_id in sorted(spec))
        )
        return format_html('{}<datalist id="esi-operations">{}</datalist>', html, options)


class EndpointScheduleForm(forms.ModelForm):  # type: ignore[type-arg]
    #: The user saving the form (set by :meth:`EndpointScheduleAdmin.get_form`); None: unchecked.
    user: Any = None

    class Meta:
        model = EndpointSchedule
        fields = (
            "name",
            "operation",
            "params",
            "token",
            "compatibility_date",
            "all_pages",
            "language",
            "kind",
            "every_minutes",
            "crontab",
            "enabled",
        )
        widgets = {"operation": OperationInput()}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        name = self.fields["name"]
        name.required = False
        name.help_text = "Leave it empty for a name made of the operation and its parameters."
        date = getattr(self.instance, "compatibility_date", "") or default_date()
        self.fields["compatibility_date"].initial = date
        self.fields["operation"].widget.compatibility_date = date  # the picker lists this view

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        date = self._clean_date(data)
        if date is None:
            return data
        kind = data.get("kind")
        if kind == EndpointSchedule.KIND_INTERVAL and not data.get("every_minutes"):
            self.add_error("every_minutes", "Give the number of minutes between fetches (at least 1).")
        if kind == EndpointSchedule.KIND_CRONTAB:
            self._check_crontab(data.get("crontab") or "")
        language = data.get("language")
        if language:
            languages = get_client(date).spec.languages
            if language not in languages:
                self.add_error("language", f"ESI knows the languages {', '.join(languages)}, not {language!r}.")
        operation = data.get("operation")
        if operation:
            op_id, errors = scheduling.validate(operation, data.get("params") or {}, data.get("token"), date)
            for field, message in errors.items():
                self.add_error(field, message)
            data["operation"] = op_id
            if self.user is not None and "operation" not in errors:
                self._check_permissions(op_id, data, skip=set(errors))
            if not data.get("name"):
                data["name"] = self._default_name(op_id, data.get("params") or {})
        if not data.get("name") and "name" not in self.errors:
            self.add_error("name", "Give the schedule a name (or an operation to name it after).")
        return data

    def _default_name(self, op_id: str, params: Any) -> str:
        """``GetCharactersCharacterIdAssets character_id=90000001``, made unique with ``(2)``, ``(3)``..."""
        args = " ".join(f"{k}={v}" for k, v in sorted(params.items())) if isinstance(params, dict) else ""
        base = f"{op_id} {args}".strip()[:140]
        taken = set(EndpointSchedule.objects.exclude(pk=self.instance.pk).values_list("name", flat=True))
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base} ({n})"
        return name

    def _clean_date(self, data: dict[str, Any]) -> str | None:
        """The schedule's compatibility date (ESI_COMPATIBILITY_DATE when left empty); None when invalid."""
        try:
            date = check_date(data.get("compatibility_date") or default_date())
        except EsiRequestError as exc:
            self.add_error("compatibility_date", str(exc))
            return None
        data["compatibility_date"] = date
        return date

    def _check_permissions(self, op_id: str, data: dict[str, Any], skip: set[str]) -> None:
        """The write policy for ``self.user``; pins one of the user's tokens when needed."""
        op = get_client(data["compatibility_date"]).spec.get(op_id)
        params = data.get("params") or {}
        pinned, errors = permissions.check_schedule(self.user, op, params, data.get("token"), data.get("kind") or "")
        for field, message in errors.items():
            if field not in skip:
                self.add_error(field, message)
        if pinned is not None and not errors:
            data["token"] = pinned

    def _check_crontab(self, expr: str) -> None:
        try:
            minute, hour, dom, month, dow = scheduling.split_crontab(expr)
            crontab(minute=minute, hour=hour, day_of_month=dom, month_of_year=month, day_of_week=dow)
        except (ValueError, TypeError) as exc:
            self.add_error("crontab", f"Not a valid crontab: {exc}")


@admin.register(EndpointSchedule)
class EndpointScheduleAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = EndpointScheduleForm
    # The status columns come right after the name, so they stay in view on a 1280 px screen next to
    # the admin's navigation and the filters; what the schedule is follows.
    list_display = ("name", "last_status", "last_run", "last_result", "enabled", "schedule", "operation", "view")
    list_filter = ("enabled", "kind", "last_status")
    search_fields = ("name", "operation")
    autocomplete_fields = ("token",)
    readonly_fields = (
        "offset_seconds",
        "periodic_task",
        "last_run_at",
        "last_status",
        "last_result_items",
        "last_result_bytes",
        "last_error",
    )
    fieldsets = (
        (None, {"fields": ("name", "compatibility_date", "operation", "params", "token", "all_pages", "language")}),
        ("When", {"fields": ("kind", "every_minutes", "crontab", "enabled", "offset_seconds", "periodic_task")}),
        (
            "Last run",
            {"fields": ("last_run_at", "last_status", "last_result_items", "last_result_bytes", "last_error")},
        ),
    )
    actions = ("run_now", "enable", "disable")

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"user": request.user})  # checked against this user

    @admin.display(description="schedule", ordering="every_minutes")
    def schedule(self, obj: EndpointSchedule) -> str:
        """``every 5 min, 2 min 46 s into each period``, with the reason in a tooltip."""
        if obj.kind != EndpointSchedule.KIND_INTERVAL or not obj.every_minutes:
            return obj.describe_schedule()
        into = _duration(obj.offset_seconds)
        return format_html(
            '<span title="{}">every {} min, {} into each period</span>',
            "Each schedule starts at its own fixed offset within the period, so that schedules do "
            "not all call ESI in the same second.",
            obj.every_minutes,
            into,
        )

    @admin.display(description="ESI view", ordering="compatibility_date")
    def view(self, obj: EndpointSchedule) -> str:
        return obj.compatibility_date or "default"

    @admin.display(description="last run", ordering="last_run_at")
    def last_run(self, obj: EndpointSchedule) -> str:
        return "never" if obj.last_run_at is None else f"{timesince(obj.last_run_at)} ago"

    @admin.display(description="last result")
    def last_result(self, obj: EndpointSchedule) -> str:
        if obj.last_result_bytes is None:
            return "-"
        items = "" if obj.last_result_items is None else f"{obj.last_result_items} items, "
        return f"{items}{filesizeformat(obj.last_result_bytes)}"

    def _allowed(self, request: HttpRequest, queryset: QuerySet[EndpointSchedule]) -> list[EndpointSchedule]:
        """The schedules ``request.user`` may run or enable; a message for each refused one."""
        allowed = []
        for schedule in queryset.select_related("token"):
            reason = permissions.refusal(request.user, schedule)
            if reason is None:
                allowed.append(schedule)
            else:
                self.message_user(request, f"Not done: {reason}", messages.ERROR)
        return allowed

    @admin.action(description="Run now", permissions=("change",))
    def run_now(self, request: HttpRequest, queryset: QuerySet[EndpointSchedule]) -> None:
        allowed = self._allowed(request, queryset)
        try:
            for schedule in allowed:
                run_schedule.apply_async((schedule.pk,), retry_policy=QUICK_RETRY)
        except BROKER_ERRORS as exc:  # a message, not a 500 page
            self.message_user(request, f"Not queued: {broker_problem(exc)}", messages.ERROR)
            return
        if allowed:
            self.message_user(request, f"Queued {len(allowed)} schedule(s) to run now.", messages.SUCCESS)

    @admin.action(description="Enable", permissions=("change",))
    def enable(self, request: HttpRequest, queryset: QuerySet[EndpointSchedule]) -> None:
        _set_enabled(self._allowed(request, queryset), True)

    @admin.action(description="Disable", permissions=("change",))
    def disable(self, request: HttpRequest, queryset: QuerySet[EndpointSchedule]) -> None:
        _set_enabled(queryset, False)


def _duration(seconds: int) -> str:
    """``166`` -> ``2 min 46 s``; ``46`` -> ``46 s``."""
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def _set_enabled(schedules: Iterable[EndpointSchedule], enabled: bool) -> None:
    """One ``save()`` per schedule (not ``update()``): the beat entry and keep-fresh chain follow it."""
    for schedule in schedules:
        schedule.enabled = enabled
        schedule.save()
