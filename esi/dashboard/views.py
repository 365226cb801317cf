"""The dashboard page and its JSON feed, for staff holding ``esi.view_dashboard``.

Reachable twice, same views: in the admin (``admin/esi/dashboard/``, the entry on the admin
index) and under ``esi.urls`` (``sso/dashboard/``). An anonymous visitor is sent to the admin
login; a signed-in user without the permission gets 403. The page draws itself from the feed
(``data/``), which it polls; each panel carries its data or a one-line problem, so a Redis or
broker outage shows in the panels, never as an error page.
"""

from __future__ import annotations

import time
from typing import Any

from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.cache import never_cache

from esi.dashboard.panels import collect, iso

__all__ = ["PERMISSION", "REFRESH_SECONDS", "can_view", "dashboard", "dashboard_data"]

PERMISSION = "esi.view_dashboard"
REFRESH_SECONDS = 5


def can_view(request: HttpRequest) -> bool:
    """Staff with ``esi.view_dashboard`` (superusers hold every permission)."""
    user = request.user
    return bool(user.is_active and user.is_staff and user.has_perm(PERMISSION))


def _check(request: HttpRequest) -> HttpResponse | None:
    if not request.user.is_authenticated:
        try:
            login = reverse("admin:login")
        except NoReverseMatch:
            login = None
        return redirect_to_login(request.get_full_path(), login)
    if not can_view(request):
        raise PermissionDenied(f"The ESI dashboard needs staff status and the {PERMISSION} permission.")
    return None


def feed() -> dict[str, Any]:
    """What the page shows: every panel's data (or problem), stamped in UTC."""
    return {"generated_at": iso(time.time()), "refresh_seconds": REFRESH_SECONDS, "panels": collect()}


@never_cache
def dashboard(request: HttpRequest, data_url: str | None = None) -> HttpResponse:
    """The page: the first data inline (no empty first paint), then polling ``data_url``."""
    refused = _check(request)
    if refused is not None:
        return refused
    context = {
        **admin.site.each_context(request),
        "title": "ESI dashboard",
        "feed": feed(),
        "data_url": data_url or reverse("esi:dashboard-data"),
    }
    return render(request, "esi/dashboard.html", context)


@never_cache
def dashboard_data(request: HttpRequest) -> HttpResponse:
    """The feed as JSON (polled by the page)."""
    refused = _check(request)
    if refused is not None:
        return refused
    return JsonResponse(feed())
