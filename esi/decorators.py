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

``@rate_limit_retry_task`` is django-esi 10's decorator for bound Celery tasks, kept for code
written for it (Alliance Auth and its apps).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse

from esi.exceptions import EsiLimited
from esi.managers import scope_names_of
from esi.models import Token
from esi.sso import take_callback_token
from esi.views import select_token, sso_redirect

__all__ = ["rate_limit_retry_task", "single_use_token", "token_required", "tokens_required"]

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


def rate_limit_retry_task(func: Callable[..., Any]) -> Callable[..., Any]:
    """Retry a bound Celery task after ESI's wait when it meets a limit (django-esi 10's decorator).

    Put it under ``@shared_task(bind=True)``: when the task raises
    :class:`~esi.exceptions.EsiLimited` (django-esi 10's ``ESIBucketLimitException`` /
    ``ESIErrorLimitException``), it is re-queued with ``countdown`` = the error's ``retry_after``
    instead of failing; the worker never sleeps. Called with no task as first argument, the
    error is raised as it is.
    """
    warnings.warn(
        f"esi.decorators.rate_limit_retry_task ({func.__module__}.{func.__qualname__}) is kept for django-esi 10 "
        "code; esi_tasks.tasks.fetch_endpoint re-queues limited calls by itself.",
        DeprecationWarning,
        stacklevel=2,
    )

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except EsiLimited as exc:
            from celery import Task

            task = args[0] if args else None
            if not isinstance(task, Task):
                logger.warning("%s: ESI limit reached and not a bound task, so not retried", func.__qualname__)
                raise
            raise task.retry(exc=exc, countdown=exc.retry_after) from exc

    return wrapper
