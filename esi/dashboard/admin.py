"""The dashboard's entry on the admin index (under the ``esi`` app), for holders of ``esi.view_dashboard``.

The entry is the unmanaged :class:`~esi.dashboard.models.Dashboard` model: the admin lists it
only for users with its view permission, and its "change list" is the dashboard itself, so the
link works on any site with the admin, Alliance Auth's included, without overriding a template.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path, reverse

from esi.dashboard import views
from esi.dashboard.models import Dashboard

__all__ = ["DashboardAdmin"]


@admin.register(Dashboard)
class DashboardAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        data = path("data/", self.admin_site.admin_view(views.dashboard_data), name="esi_dashboard_data")
        return [data, *super().get_urls()]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        return views.dashboard(request, data_url=reverse(f"{self.admin_site.name}:esi_dashboard_data"))
