"""View decorators that hand the view a token, as django-esi users know them.

* ``@token_required(scopes=..., new=False)`` - the view gets one ``Token``. Coming back from
  SSO: the token just obtained. Otherwise a logged-in user picks one of their valid tokens
  holding the scopes (``esi/select_token.html``), or adds one through SSO.
* ``@tokens_required(scopes=..., new=False)`` - the view gets a queryset of the user's valid
  tokens holding the scopes; none, or ``new=True`` → SSO and back with the new token (alone).
  An anonymous visitor is sent to ``LOGIN_URL`` first (unless ``new=True``).
* ``@single_use_token(scopes=...)`` - always a fresh login through SSO; the view gets that token.

``scopes`` is a space-separated string or a list of names. Tokens are bound to ``request.user``
when the user is logged in; anonymous visitors get tokens without a user. Unlike django-esi 10,
``@token_required`` never offers an anonymous visitor the stored tokens without a user.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse

from esi.compat._deprecation import legacy_getattr
from esi.login import take_callback_token
from esi.managers import scope_names_of
from esi.models import Token
from esi.views import select_token, sso_redirect

__all__ = ["single_use_token", "token_required", "tokens_required"]

# django-esi 10's other helpers, served from the compatibility layer on first use.
__getattr__ = legacy_getattr(
    "esi.decorators",
    {
        "rate_limit_retry_task": ("esi.compat.decorators", "esi_tasks.tasks.fetch_endpoint (re-queues by itself)"),
        "wait_for_esi_errorlimit_reset": ("esi.compat.decorators", "nothing (limits raise EsiLimited)"),
        "_check_callback": ("esi.compat.decorators", "esi.login.take_callback_token"),
    },
)

logger = logging.getLogger(__name__)

View = Callable[..., HttpResponse]
Scopes = str | Iterable[str] | None


def _user_tokens(request: HttpRequest, scopes: list[str]) -> Any:
    return Token.objects.filter(user__pk=request.user.pk).require_scopes(scopes).require_valid()


#: ``call(x)`` runs the decorated view as ``view(request, x, *args, **kwargs)``.
Call = Callable[[Any], HttpResponse]
#: ``otherwise(request, scope_names, call)``: what a decorator does when no login just came back.
Otherwise = Callable[[HttpRequest, list[str], Call], HttpResponse]


def _decorator(
    scopes: Scopes, otherwise: Otherwise, give: Callable[[Token], Any] = lambda token: token
) -> Callable[[View], View]:
    """The shape all three decorators share: a login that just came back wins, else ``otherwise``."""
    names = scope_names_of(scopes)

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            def call(arg: Any) -> HttpResponse:
                return view(request, arg, *args, **kwargs)

            token = take_callback_token(request)
            if token is not None:
                missing = sorted(set(names) - set(token.scope_names))
                if not missing:
                    return call(give(token))
                # e.g. /sso/login/?next=<this view> without scopes: not the login this view asked for
                logger.info("Token %s from SSO lacks the scope(s) %s; not handed to the view", token.pk, missing)
            return otherwise(request, names, call)

        return wrapped

    return decorator


def token_required(scopes: Scopes = "", new: bool = False) -> Callable[[View], View]:
    """Give the view ``(request, token, *args, **kwargs)``; see the module docstring."""

    def otherwise(request: HttpRequest, names: list[str], call: Call) -> HttpResponse:
        authenticated = request.user.is_authenticated
        if request.method == "POST":
            if request.POST.get("_add"):
                return sso_redirect(request, names)
            chosen = request.POST.get("_token")
            if chosen and authenticated and str(chosen).isdigit():
                picked = _user_tokens(request, names).filter(pk=int(chosen)).first()
                if picked is not None:
                    return call(picked)
                logger.info("Token selection refused: not a valid token of this user with the scopes")
        if not new and authenticated:
            tokens = _user_tokens(request, names)
            if tokens.exists():
                return select_token(request, tokens, names)
        return sso_redirect(request, names)

    return _decorator(scopes, otherwise)


def tokens_required(scopes: Scopes = "", new: bool = False) -> Callable[[View], View]:
    """Give the view ``(request, tokens, *args, **kwargs)`` (a ``Token`` queryset)."""

    def otherwise(request: HttpRequest, names: list[str], call: Call) -> HttpResponse:
        if not new:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            tokens = _user_tokens(request, names)
            if tokens.exists():
                return call(tokens)
        return sso_redirect(request, names)

    return _decorator(scopes, otherwise, give=lambda token: Token.objects.filter(pk=token.pk))


def single_use_token(scopes: Scopes = "", new: bool = False) -> Callable[[View], View]:
    """Give the view ``(request, token, *args, **kwargs)`` from a login made just for it.

    ``new`` is accepted for django-esi 10 code; every call is a new login anyway.
    """
    return _decorator(scopes, lambda request, names, call: sso_redirect(request, names))
