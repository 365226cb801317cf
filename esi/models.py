"""Scope, Token and CallbackRedirect: the identity half of the ``esi`` app.

The tables keep the names and columns of django-esi 10 (``esi_scope``, ``esi_token``,
``esi_token_scopes``, ``esi_callbackredirect``) so an existing site upgrades in place; the
columns added since (``access_token_expires``, ``updated``, the PKCE verifier...) come in later
migrations. Access and refresh tokens are secrets: they never appear in ``str``/``repr``, and
refresh tokens are stored encrypted (:class:`esi.fields.EncryptedTextField`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar, Literal

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from esi import tokens
from esi._crypto import Undecryptable
from esi.app_settings import esi_settings
from esi.dashboard.models import Dashboard
from esi.exceptions import NotRefreshableError, TokenError
from esi.fields import EncryptedTextField
from esi.managers import ACCESS_TOKEN_LIFETIME, ScopesArg, TokenManager
from esi.sso import verify_access_token

__all__ = ["CallbackRedirect", "Dashboard", "Scope", "Token"]


class Scope(models.Model):
    """An EVE SSO scope, e.g. ``esi-assets.read_assets.v1``."""

    name = models.CharField(max_length=100, unique=True, help_text="The official EVE name for the scope.")
    help_text = models.TextField(help_text="The official EVE description of the scope.")

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name

    @property
    def friendly_name(self) -> str:
        """``read assets`` for ``esi-assets.read_assets.v1`` (as django-esi shows it)."""
        return self._friendly_name(self.name)

    @classmethod
    def _friendly_name(cls, name: str) -> str:
        parts = name.split(".")
        return parts[1].replace("_", " ").strip() if len(parts) > 1 else name


class Token(models.Model):
    """An EVE SSO token of one character: a short-lived access token and its refresh token.

    Use :meth:`valid_access_token` to get an access token that is good for the next request:
    it refreshes at SSO when needed, once for all workers (Redis lock per token).
    """

    TOKEN_TYPE_CHARACTER = "character"
    TOKEN_TYPE_CORPORATION = "corporation"
    TOKEN_TYPE_CHOICES = ((TOKEN_TYPE_CHARACTER, "Character"), (TOKEN_TYPE_CORPORATION, "Corporation"))

    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True, help_text="When this row last changed (login or refresh).")
    access_token = models.TextField(help_text="The access token granted by SSO.", editable=False)
    access_token_expires = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="When the access token expires; empty means unknown (refreshed on first use).",
    )
    refresh_token = EncryptedTextField(
        blank=True,
        null=True,
        help_text="A re-usable token to generate new access tokens upon expiry (encrypted at rest).",
        editable=False,
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        blank=True,
        null=True,
        help_text="The user to whom this token belongs.",
    )
    character_id = models.IntegerField(db_index=True, help_text="The ID of the EVE character who authenticated by SSO.")
    character_name = models.CharField(
        max_length=100, db_index=True, help_text="The name of the EVE character who authenticated by SSO."
    )
    token_type = models.CharField(
        max_length=100,
        choices=TOKEN_TYPE_CHOICES,
        default=TOKEN_TYPE_CHARACTER,
        help_text="The applicable range of the token.",
    )
    character_owner_hash = models.CharField(
        max_length=254,
        db_index=True,
        help_text="The unique string identifying this character and its owning EVE account. "
        "Changes if the character is transferred to another account.",
    )
    scopes = models.ManyToManyField(Scope, blank=True, help_text="The access scopes granted by this token.")
    sso_version = models.IntegerField(default=2, help_text="EVE SSO version that issued this token.")

    objects: ClassVar[TokenManager] = TokenManager()

    class Meta:
        indexes = (
            models.Index(fields=("character_id", "character_owner_hash"), name="esi_token_char_owner_idx"),
            models.Index(fields=("access_token_expires",), name="esi_token_expires_idx"),
        )

    def __str__(self) -> str:
        return f"{self.character_name} ({self.character_id}): {', '.join(self.scope_names) or 'no scopes'}"

    def __repr__(self) -> str:
        return f"<Token id={self.pk} character_id={self.character_id} character_name={self.character_name!r}>"

    # --- state ------------------------------------------------------------------------------

    @property
    def scope_names(self) -> list[str]:
        """The names of the scopes this token grants, sorted (uses a prefetch when present)."""
        if self.pk is None:
            return []
        return sorted(scope.name for scope in self.scopes.all())

    @property
    def expires(self) -> dt.datetime | None:
        """When the access token expires: as stored at login or refresh; for a token stored
        without one (migrated from django-esi 10, or created by code written for it),
        ``created`` + 20 minutes as django-esi 10 reckoned; ``None`` before it is saved."""
        if self.access_token_expires is not None:
            return self.access_token_expires
        return self.created + ACCESS_TOKEN_LIFETIME if self.created is not None else None

    @property
    def expired(self) -> bool:
        """Whether the access token is expired (or its expiry cannot be known)."""
        expires = self.expires
        return expires is None or expires <= timezone.now()

    @property
    def needs_refresh(self) -> bool:
        """Whether the access token expires within ``ESI_TOKEN_REFRESH_MARGIN`` (or is unknown)."""
        expires = self.expires
        if expires is None:
            return True
        margin = dt.timedelta(seconds=esi_settings.ESI_TOKEN_REFRESH_MARGIN)
        return expires - margin <= timezone.now()

    @property
    def can_refresh(self) -> bool:
        """Whether SSO can renew this token (it has a refresh token this site can decrypt)."""
        return bool(self.refresh_token) and not isinstance(self.refresh_token, Undecryptable)

    # --- actions: thin wrappers of esi.tokens (one refresh, one outcome, one error policy) ------

    @sensitive_variables()  # hides every local below it in error reports (tokens)
    def valid_access_token(self) -> str:
        """An access token valid for at least ``ESI_TOKEN_REFRESH_MARGIN`` seconds.

        Refreshes at SSO when needed, under a Redis lock per token so that any number of threads
        and processes cause one refresh. Raises ``NotRefreshableError``, ``TokenInvalidError``
        (the token was deleted) or ``SSOUnavailable`` (the token was left untouched).
        """
        tokens.refresh(self).raise_error()
        return self.access_token

    @sensitive_variables()  # hides every local below it in error reports (tokens)
    def refresh(self, session: Any = None, auth: Any = None) -> None:
        """Refresh the access token at SSO now, whatever its expiry (same lock and errors).

        ``session`` and ``auth`` are accepted for django-esi 10 callers and ignored.
        """
        tokens.refresh(self, force=True).raise_error()

    def refresh_or_delete(self) -> None:
        """django-esi 10: refresh now; delete the token if it cannot be refreshed any more.

        SSO being unavailable is not a reason to delete: ``SSOUnavailable`` is raised instead.
        """
        result = tokens.refresh(self, force=True)
        if isinstance(result.error, TokenError):
            if self.pk is not None:
                self.delete()
            return
        result.raise_error()

    @sensitive_variables()  # hides every local below it in error reports (tokens)
    def update_token_data(self, commit: bool = True) -> None:
        """Ask SSO who this token belongs to now, and take its character, name and owner hash.

        django-esi 10's ownership check (Alliance Auth runs it every 4 hours). A refreshable
        token is refreshed at SSO right away, so the answer is SSO's current one: a character
        moved to another account comes back with a new owner hash, and tokens of the previous
        owner are deleted (``TokenInvalidError``, as when SSO refuses the refresh token). A token
        without a refresh token is read from its still-valid access token, else
        ``NotRefreshableError``; ``SSOUnavailable`` if SSO does not answer. ``commit=False``
        leaves the name and owner fields unsaved (a rotated refresh token is always stored).
        """
        if self.can_refresh:
            tokens.refresh(self, force=True).raise_error()
        elif self.expired:
            raise NotRefreshableError(
                f"Token {self.pk} of character {self.character_id} has expired and has no refresh token; "
                "its owner cannot be checked. Log the character in again."
            )
        claims = verify_access_token(self.access_token)
        self.character_id = claims.character_id
        self.character_name = claims.character_name
        self.character_owner_hash = claims.owner_hash
        if commit:
            self.save(update_fields=["character_id", "character_name", "character_owner_hash"])

    @sensitive_variables()  # hides every local below it in error reports (tokens)
    def revoke(self) -> None:
        """Revoke the refresh token at SSO and delete this token."""
        tokens.revoke(self)

    @classmethod
    def get_token(cls, character_id: int, scopes: ScopesArg) -> Token | Literal[False]:
        """django-esi 10: a token of the character holding the scopes, or ``False``."""
        token = cls.objects.filter(character_id=character_id).require_scopes(scopes).first()
        return token if token is not None else False

    def get_esi_scopes(self) -> list[str]:
        """django-esi 10 name of :attr:`scope_names`."""
        return self.scope_names


class CallbackRedirect(models.Model):
    """One SSO login in flight: its ``state``, PKCE verifier and where to return afterwards.

    Created by the login view, checked and completed by the callback (``token`` set,
    ``completed`` stamped), consumed by the decorators; rows older than
    ``ESI_CALLBACK_REDIRECT_MAX_AGE`` are deleted.
    """

    url = models.TextField(help_text="The URL to return to after the login.")
    session_key = models.CharField(max_length=254, db_index=True, help_text="Session of the browser that logs in.")
    state = models.CharField(max_length=128, unique=True, help_text="OAuth2 state of this login.")
    code_verifier = models.CharField(max_length=128, blank=True, default="", help_text="PKCE code verifier (secret).")
    requested_scopes = models.TextField(blank=True, default="", help_text="Scopes asked for, space separated.")
    created = models.DateTimeField(auto_now_add=True)
    completed = models.DateTimeField(null=True, blank=True, help_text="When SSO called back for this login.")
    token = models.ForeignKey(Token, on_delete=models.CASCADE, null=True, blank=True)

    def __str__(self) -> str:
        return f"SSO login of session {self.session_key[:6]}… to {self.url}"

    def __repr__(self) -> str:
        return f"<CallbackRedirect id={self.pk} created={self.created} completed={self.completed}>"

    @property
    def scope_list(self) -> list[str]:
        return self.requested_scopes.split()

    @property
    def is_expired(self) -> bool:
        age = dt.timedelta(seconds=esi_settings.ESI_CALLBACK_REDIRECT_MAX_AGE)
        return self.created + age <= timezone.now()
