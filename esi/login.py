"""The browser side of an SSO login: remember it, then check and complete the callback.

The views and decorators use it; the OAuth and JWT work is :mod:`esi.sso`'s, the storing of the
token :func:`esi.tokens.store_login`'s.

A login is a ``CallbackRedirect`` row keyed by its random ``state`` and bound to the browser's
session. The callback is trusted only when its state is known, belongs to this session, was
not used before and is younger than ``ESI_CALLBACK_REDIRECT_MAX_AGE``; the state is claimed
atomically before the code is exchanged, so a replayed callback can never store a token.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from esi.app_settings import esi_settings
from esi.exceptions import SSOCallbackError, SSOError
from esi.models import CallbackRedirect, Token
from esi.sso import exchange_code, new_authorization, verify_access_token
from esi.tokens import store_login

if TYPE_CHECKING:
    from django.http import HttpRequest

__all__ = ["cleanup_callback_redirects", "finish_login", "session_key", "start_login", "take_callback_token"]

logger = logging.getLogger(__name__)

_REUSED = "This SSO login was already completed; a callback works only once."


def session_key(request: HttpRequest) -> str:
    """The request's session key, creating the session if it has none yet."""
    session: Any = request.session
    if not session.session_key or not session.exists(session.session_key):
        session.create()
    return str(session.session_key)


def cleanup_callback_redirects() -> int:
    """Delete logins older than ``ESI_CALLBACK_REDIRECT_MAX_AGE``; returns how many."""
    limit = timezone.now() - dt.timedelta(seconds=esi_settings.ESI_CALLBACK_REDIRECT_MAX_AGE)
    deleted, _ = CallbackRedirect.objects.filter(created__lt=limit).delete()
    if deleted:
        logger.debug("Deleted %d expired SSO login(s)", deleted)
    return int(deleted)


def start_login(request: HttpRequest, scopes: list[str], return_url: str) -> str:
    """Remember a new login for this browser; returns the SSO authorize URL to redirect to."""
    cleanup_callback_redirects()
    key = session_key(request)
    authorization = new_authorization(scopes)
    CallbackRedirect.objects.create(
        session_key=key,
        state=authorization.state,
        code_verifier=authorization.code_verifier,
        requested_scopes=" ".join(authorization.scopes),
        url=return_url,
    )
    logger.info("Starting an EVE SSO login for %d scope(s)", len(authorization.scopes))
    return authorization.url


def _checked_redirect(request: HttpRequest) -> CallbackRedirect:
    error = request.GET.get("error")
    if error:
        raise SSOCallbackError(
            f"EVE SSO did not grant the login ({error[:64]}): it was cancelled or refused.", reason="denied"
        )
    state = request.GET.get("state")
    if not state:
        raise SSOCallbackError("The SSO callback has no state parameter, so it cannot be trusted.", reason="missing")
    redirect = CallbackRedirect.objects.filter(state=state).first()
    current = request.session.session_key
    if redirect is None or not current or redirect.session_key != current:
        raise SSOCallbackError(
            "This SSO callback does not belong to a login started in this browser (unknown state). "
            "It may have been cleaned up, or cookies were blocked.",
            reason="unknown",
        )
    if redirect.completed is not None:
        raise SSOCallbackError(_REUSED, reason="reused")
    if redirect.is_expired:
        redirect.delete()
        raise SSOCallbackError(
            f"This SSO login took longer than {esi_settings.ESI_CALLBACK_REDIRECT_MAX_AGE} seconds and has expired.",
            reason="expired",
        )
    if not request.GET.get("code"):
        raise SSOCallbackError("The SSO callback has no authorization code.", reason="missing")
    return redirect


def finish_login(request: HttpRequest) -> CallbackRedirect:
    """Check the callback, exchange the code, verify the JWT and store the token.

    Returns the completed ``CallbackRedirect`` (``.token`` and ``.url`` set). Raises
    ``SSOCallbackError`` for a state that cannot be trusted and ``SSOError`` subclasses when the
    exchange or the JWT fails; nothing is stored then.
    """
    redirect = _checked_redirect(request)
    with transaction.atomic():
        claimed = CallbackRedirect.objects.filter(pk=redirect.pk, completed__isnull=True).update(
            completed=timezone.now()
        )
    if not claimed:  # a concurrent request with the same callback claimed it between check and claim
        raise SSOCallbackError(_REUSED, reason="reused")
    try:
        response = exchange_code(request.GET["code"], redirect.code_verifier)
        claims = verify_access_token(response.access_token)
    except SSOError:
        CallbackRedirect.objects.filter(pk=redirect.pk).delete()
        raise
    user = getattr(request, "user", None)
    token, _ = store_login(response, claims, user)
    CallbackRedirect.objects.filter(pk=redirect.pk).update(token=token)
    redirect.refresh_from_db()
    return redirect


def take_callback_token(request: HttpRequest) -> Token | None:
    """The token of a login this browser just completed for this very URL, used only once.

    The decorators call this when the browser comes back from SSO.
    """
    key = request.session.session_key
    if not key:
        return None
    limit = timezone.now() - dt.timedelta(seconds=esi_settings.ESI_CALLBACK_REDIRECT_MAX_AGE)
    redirect = (
        CallbackRedirect.objects.filter(
            session_key=key,
            url=request.get_full_path(),
            completed__isnull=False,
            token__isnull=False,
            created__gte=limit,
        )
        .order_by("-completed")
        .first()
    )
    if redirect is None:
        return None
    token_id = redirect.token_id
    if not CallbackRedirect.objects.filter(pk=redirect.pk, token__isnull=False).update(token=None):
        return None  # another request of this browser took it first
    token: Token | None = Token.objects.filter(pk=token_id).first()
    return token
