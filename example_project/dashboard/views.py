"""The example's walkthrough page: sign in, log in with EVE SSO, see your token, call ESI, queue a
fetch on the worker, then watch everything on django-esi's own dashboard (``esi:dashboard``).

The budgets, traffic, queues and failures live in the product's dashboard (``docs/operating.md``);
this page only shows each step working, or why it can't yet: each step turns a failure into a
short note, so the page still renders when Redis is down or ESI answers an error.

Private: an anonymous visitor sees only the sign-in link; a signed-in user sees the SSO login
and their own tokens; ESI status, the worker's recent fetches and the "queue a fetch" button are
for staff only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_POST

from dashboard import recent

logger = logging.getLogger(__name__)

DEMO_SCOPES = ["esi-assets.read_assets.v1", "esi-wallet.read_character_wallet.v1"]


def _panel(build: Callable[[HttpRequest], Any], request: HttpRequest) -> dict[str, Any]:
    try:
        return {"ok": True, "data": build(request)}
    except ImportError as exc:
        return {"ok": False, "note": f"not available in this installation ({exc})"}
    except Exception as exc:
        logger.info("dashboard panel %s failed: %s", build.__name__, exc)
        return {"ok": False, "note": f"{type(exc).__name__}: {exc}"}


def _sso(request: HttpRequest) -> dict[str, Any]:
    try:
        login = reverse("esi:login")
    except NoReverseMatch:
        raise ImportError("esi.urls has no 'login' view yet") from None
    query = urlencode({"scopes": " ".join(DEMO_SCOPES), "next": reverse("dashboard:index")})
    return {"login_url": f"{login}?{query}", "scopes": DEMO_SCOPES}


def _tokens(request: HttpRequest) -> dict[str, Any]:
    from esi.models import Token

    tokens = Token.objects.all()
    mine = tokens.filter(user_id=request.user.pk) if request.user.is_authenticated else tokens.none()
    rows = [
        {
            "character_id": token.character_id,
            "character_name": token.character_name,
            "scopes": sorted(scope.name for scope in token.scopes.all()),
            "expires": getattr(token, "access_token_expires", None),
            "can_refresh": getattr(token, "can_refresh", bool(token.refresh_token)),
        }
        for token in mine.prefetch_related("scopes").order_by("character_name")[:50]
    ]
    return {"mine": rows, "total": tokens.count() if request.user.is_staff else None}


def _status(request: HttpRequest) -> dict[str, Any]:
    from esi.client import get_client

    response = get_client().call("GetStatus")
    return {
        "body": response.data,
        "status": response.status,
        "from_cache": response.from_cache,
        "not_modified": response.not_modified,
        "expires": response.expires,
    }


def _recent(request: HttpRequest) -> list[dict[str, Any]]:
    return recent.latest()


_USER_PANELS = (("sso", _sso), ("tokens", _tokens))
_STAFF_PANELS = (("status", _status), ("recent", _recent))


def index(request: HttpRequest) -> HttpResponse:
    user = request.user
    panels = (_USER_PANELS + _STAFF_PANELS if user.is_staff else _USER_PANELS) if user.is_authenticated else ()
    context: dict[str, Any] = {name: _panel(build, request) for name, build in panels}
    context["staff"] = user.is_authenticated and user.is_staff
    context["dashboard_url"] = reverse("esi:dashboard")
    context["metrics_url"] = reverse("esi:metrics")
    try:
        import esi_tasks.tasks  # noqa: F401

        context["can_queue"] = context["staff"]
    except ImportError:
        context["can_queue"] = False
    return render(request, "dashboard/index.html", context)


@staff_member_required
@require_POST
def queue_fetch(request: HttpRequest) -> HttpResponse:
    """Queue ``fetch_endpoint("GetStatus")`` on the Celery worker; the result shows under recent fetches."""
    try:
        from esi_tasks.tasks import fetch_endpoint

        result = fetch_endpoint.delay("GetStatus")
    except Exception as exc:
        messages.error(request, f"Could not queue the fetch: {type(exc).__name__}: {exc}")
    else:
        messages.success(request, f"Queued fetch_endpoint('GetStatus') as task {result.id}.")
    return redirect("dashboard:index")
