"""``esi:login`` starts an EVE SSO login; ``esi:callback`` is where SSO sends the browser back.

Both are thin: the work is in :mod:`esi.login`. A callback that cannot be trusted gets a 400 page
saying what happened and offering to start again; nothing is stored then.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from django.conf import global_settings, settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render, resolve_url
from django.urls import NoReverseMatch, reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_GET

from esi.exceptions import SSOCallbackError, SSOError, SSOUnavailable
from esi.login import finish_login, start_login
from esi.managers import scope_names_of
from esi.models import CallbackRedirect

if TYPE_CHECKING:
    from esi.models import Token

__all__ = ["receive_callback", "select_token", "sso_login", "sso_redirect"]

logger = logging.getLogger(__name__)

_SCOPE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]{0,99}")


def _problem(request: HttpRequest, restart: str, status: int, title: str, message: str, reason: str) -> HttpResponse:
    """The error page of the login views (``esi/callback_error.html``); ``restart`` may be empty."""
    context = {"title": title, "message": message, "reason": reason, "restart_url": restart}
    return render(request, "esi/callback_error.html", context, status=status)


def _safe_next(request: HttpRequest, url: str | None) -> str:
    """``url`` if it points back into this site, else ``LOGIN_REDIRECT_URL`` (no open redirects).

    Django's own default for ``LOGIN_REDIRECT_URL``, ``/accounts/profile/``, is a 404 on most
    sites: unless the project sets it, the login returns to ``/``.
    """
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    target = settings.LOGIN_REDIRECT_URL
    if not target or target == global_settings.LOGIN_REDIRECT_URL:
        return "/"
    return str(resolve_url(target))


def sso_redirect(
    request: HttpRequest, scopes: str | Iterable[str] | None = None, return_to: str | None = None
) -> HttpResponseRedirect:
    """Send the browser to EVE SSO for ``scopes``, then back to ``return_to`` (default: here).

    ``return_to`` may be a URL name (as in django-esi) or a path.
    """
    if return_to:
        try:
            url = reverse(return_to)
        except NoReverseMatch:  # not a URL name: a path
            url = _safe_next(request, return_to)
    else:
        url = request.get_full_path()
    return HttpResponseRedirect(start_login(request, scope_names_of(scopes), url))


@never_cache
@require_GET
def sso_login(request: HttpRequest) -> HttpResponse:
    """``sso/login/?scopes=a b&next=/somewhere``: start a login for those scopes."""
    scopes = scope_names_of(request.GET.getlist("scopes") + request.GET.getlist("scope"))
    bad = [scope for scope in scopes if not _SCOPE_NAME.fullmatch(scope)]
    if bad:
        message = (
            f"{', '.join(repr(b[:80]) for b in bad[:5])} is not an EVE SSO scope name. Scopes look like "
            "esi-assets.read_assets.v1; separate several with spaces."
        )
        return _problem(request, "", 400, "Unknown scope", message, "scope")
    return sso_redirect(request, scopes, _safe_next(request, request.GET.get("next")))


def select_token(
    request: HttpRequest, tokens: Iterable[Token], scopes: str | Iterable[str] | None = None
) -> HttpResponse:
    """The character picker of ``@token_required`` (``esi/select_token.html``, as in django-esi).

    Context: ``tokens`` (one per character name) and ``scopes`` (names).
    """
    shown, names = [], set()
    for token in tokens:
        if token.character_name not in names:
            names.add(token.character_name)
            shown.append(token)
    return render(request, "esi/select_token.html", {"tokens": shown, "scopes": scope_names_of(scopes)})


def _restart_url(request: HttpRequest) -> str:
    state = request.GET.get("state")
    key = request.session.session_key
    # Only this browser's own login: anyone else holding the state must not learn its next/scopes.
    previous = CallbackRedirect.objects.filter(state=state, session_key=key).first() if state and key else None
    query = {"scopes": previous.requested_scopes, "next": previous.url} if previous else {}
    url = reverse("esi:login")
    return f"{url}?{urlencode(query)}" if query else url


@never_cache
@require_GET
@sensitive_variables()  # the code, the verifier and the tokens of the login are in frames below
def receive_callback(request: HttpRequest) -> HttpResponse:
    """``sso/callback``: check state, exchange the code, verify the JWT, store the token, go back."""
    restart = _restart_url(request)  # before the login is used up: offer the same scopes again
    try:
        redirect = finish_login(request)
    except SSOCallbackError as exc:
        logger.warning("Refused an SSO callback (%s)", exc.reason)
        return _problem(request, restart, 400, "This login cannot be completed", str(exc), exc.reason)
    except SSOUnavailable as exc:
        logger.warning("SSO login failed: EVE SSO unavailable")
        return _problem(request, restart, 503, "EVE SSO is not answering", str(exc), "unavailable")
    except SSOError as exc:
        logger.warning("SSO login failed: %s", type(exc).__name__)
        return _problem(request, restart, 400, "EVE SSO login failed", str(exc), "sso")
    return HttpResponseRedirect(redirect.url)
