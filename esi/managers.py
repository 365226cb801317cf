"""``Token.objects``: find the tokens that hold some scopes, and keep them valid.

Everything returns a queryset, so the filters chain as django-esi users know::

    Token.objects.filter(user=request.user).require_scopes("esi-assets.read_assets.v1").require_valid()
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Union

from django.db import models
from django.db.models import Count, Q
from django.utils import timezone

from esi import tokens
from esi.app_settings import esi_settings
from esi.exceptions import EsiError
from esi.tokens import Outcome

#: How long EVE SSO's access tokens live. A token stored without an expiry (a row migrated from
#: django-esi 10, or one created by code written for it) expires this long after ``created``,
#: which is how django-esi 10 computed every token's expiry.
ACCESS_TOKEN_LIFETIME = dt.timedelta(seconds=1199)

if TYPE_CHECKING:
    from esi.models import Scope, Token

__all__ = ["ScopesArg", "TokenManager", "TokenQuerySet", "scope_names_of"]

logger = logging.getLogger(__name__)

ScopesArg = Union[str, Iterable[Union[str, "Scope"]], None]  # noqa: UP007 (a runtime alias with a forward ref)


def scope_names_of(scopes: ScopesArg) -> list[str]:
    """Scope names from a space-separated string, a list of names or of ``Scope`` objects."""
    if scopes is None:
        return []
    if isinstance(scopes, str):
        return sorted(set(scopes.split()))
    names: set[str] = set()
    for scope in scopes:
        if isinstance(scope, str):
            names.update(scope.split())
        elif hasattr(scope, "name"):
            names.add(scope.name)
        else:
            raise TypeError(f"Scopes must be names or Scope objects, not {type(scope).__name__} ({scope!r}).")
    return sorted(names)


class TokenQuerySet(models.QuerySet["Token"]):
    """Chainable token filters; the ones that talk to SSO say so."""

    def for_character(self, character_id: int, owner_hash: str | None = None) -> TokenQuerySet:
        """Tokens of one character (and, if given, of its current owner only)."""
        qs = self.filter(character_id=character_id)
        return qs.filter(character_owner_hash=owner_hash) if owner_hash else qs

    def _with_scopes(self, names: list[str]) -> models.QuerySet[Any]:
        through = self.model.scopes.through
        return (
            through.objects.filter(scope__name__in=names)
            .values("token_id")
            .annotate(n=Count("scope_id", distinct=True))
            .filter(n=len(names))  # type: ignore[misc]  # "n" is the annotation above
            .values("token_id")
        )

    def require_scopes(self, scopes: ScopesArg) -> TokenQuerySet:
        """Tokens that hold at least every scope given (string, list of names or Scopes).

        No scopes (``""``, ``[]``, ``None``) finds the tokens without any scope, as in django-esi.
        """
        names = scope_names_of(scopes)
        if not names:
            # As in django-esi: asking for no scopes finds the tokens that hold none.
            return self.exclude(pk__in=self.model.scopes.through.objects.values("token_id"))
        return self.filter(pk__in=self._with_scopes(names))

    def require_scopes_exact(self, scopes: ScopesArg) -> TokenQuerySet:
        """Tokens that hold exactly the scopes given, no more, no fewer."""
        names = scope_names_of(scopes)
        through = self.model.scopes.through
        others = through.objects.exclude(scope__name__in=names).values("token_id")
        return self.require_scopes(names).exclude(pk__in=others)

    def equivalent_to(self, token: Token) -> TokenQuerySet:
        """Other tokens of the same character, owner and scopes, of the same user or of none."""
        return (
            self.filter(character_id=token.character_id, character_owner_hash=token.character_owner_hash)
            .require_scopes_exact(token.scope_names)
            .filter(Q(user_id=token.user_id) | Q(user__isnull=True))
            .exclude(pk=token.pk)
        )

    def _expiring_by(self, moment: dt.datetime) -> TokenQuerySet:
        """Tokens whose access token expires by ``moment``; without a stored expiry, it is
        ``created`` + :data:`ACCESS_TOKEN_LIFETIME` (see :attr:`esi.models.Token.expires`)."""
        unknown = Q(access_token_expires__isnull=True, created__lte=moment - ACCESS_TOKEN_LIFETIME)
        return self.filter(Q(access_token_expires__lte=moment) | unknown)

    def get_expired(self) -> TokenQuerySet:
        """Tokens whose access token has expired (migrated tokens whose expiry is unknown count
        as expired twenty minutes after they were created)."""
        return self._expiring_by(timezone.now())

    def _needing_refresh(self) -> TokenQuerySet:
        return self._expiring_by(timezone.now() + dt.timedelta(seconds=esi_settings.ESI_TOKEN_REFRESH_MARGIN))

    def require_valid(self) -> TokenQuerySet:
        """Tokens usable now: refreshes those close to expiry, leaves out those that fail.

        Tokens whose refresh token SSO refuses are deleted (``token_invalidated`` is sent);
        tokens without a refresh token, that SSO could not refresh now, or whose refresh failed
        otherwise (a token that does not verify) are only left out. Once SSO proves unavailable,
        the remaining tokens are not sent to it.
        """
        failed: list[int] = []
        sso_down = False
        for token in self._needing_refresh():
            if sso_down:  # do not keep hitting an SSO that is down: the rest only if still valid
                if token.expired:
                    failed.append(token.pk)
                continue
            result = _refresh_through_model(token)
            if result.outcome is Outcome.UNAVAILABLE:
                sso_down = True
                if token.expired:
                    failed.append(token.pk)
            elif not result.ok:
                failed.append(token.pk)
        return self.exclude(pk__in=failed)

    def bulk_refresh(self) -> TokenQuerySet:
        """Refresh every refreshable token at SSO now; returns those that succeeded.

        Refused tokens are deleted (``token_invalidated``); tokens without a refresh token and
        tokens SSO could not refresh now are left out of the result but kept. When SSO is down,
        the remaining tokens are not tried (as in django-esi). Two SQL statements per token.
        """
        ids = list(self.exclude(refresh_token__isnull=True).exclude(refresh_token="").values_list("pk", flat=True))
        done: list[int] = []
        for index, result in enumerate(tokens.refresh_many(ids, stop_when_unavailable=True)):
            if result.outcome is Outcome.REFRESHED or result.outcome is Outcome.FRESH:
                done.append(result.token_id)  # type: ignore[arg-type]  # loaded rows have a pk
            elif result.outcome is Outcome.UNAVAILABLE:
                logger.warning("EVE SSO unavailable: %d token(s) left unrefreshed until next time", len(ids) - index)
            elif result.error is not None:
                logger.info("Token %s not refreshed: %s", result.token_id, result.error)
        return self.filter(pk__in=done)


def _refresh_through_model(token: Token) -> tokens.RefreshResult:
    """Refresh ``token`` through its model methods, as django-esi 10's ``require_valid`` did
    (apps' tests patch ``Token.refresh``), read by the one error policy (``tokens.outcome_of``).

    Forced only when SSO can renew it: a token without a refresh token is used while still valid.
    """
    try:
        if token.can_refresh:
            token.refresh()
        else:
            token.valid_access_token()
    except EsiError as exc:
        outcome = tokens.outcome_of(exc)
        if outcome is None:
            raise
        if outcome is Outcome.INVALID and token.pk is not None:
            type(token).objects.filter(pk=token.pk).delete()  # refused by SSO: gone (usually already)
        return tokens.RefreshResult(token.pk, outcome, exc)
    return tokens.RefreshResult(token.pk, Outcome.REFRESHED)


class TokenManager(models.Manager.from_queryset(TokenQuerySet)):  # type: ignore[misc]
    """``Token.objects``: the :class:`TokenQuerySet` methods on the manager."""
