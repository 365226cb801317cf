"""Admin for scopes and tokens. Token strings are never shown, not even read-only.

Every action asks Django's permissions: refreshing needs ``esi.change_token``, revoking
``esi.delete_token``; a staff user who may only view tokens sees no action at all.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from esi.dashboard import admin as _dashboard_admin  # noqa: F401  (registers the dashboard's entry)
from esi.exceptions import EsiError
from esi.models import CallbackRedirect, Scope, Token

__all__ = ["CallbackRedirectAdmin", "ScopeAdmin", "TokenAdmin"]


@admin.register(Scope)
class ScopeAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("name", "help_text")
    search_fields = ("name", "help_text")


@admin.register(Token)
class TokenAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "character_name",
        "character_id",
        "user",
        "scope_count",
        "access_token_state",
        "can_refresh",
        "updated",
    )
    list_filter = ("scopes", "token_type")
    search_fields = ("character_name", "character_id", "user__username", "character_owner_hash")
    raw_id_fields = ("user",)
    ordering = ("character_name", "pk")  # stable pages (list and the schedules' token picker)
    # Everything a person may see; access_token and refresh_token are in no list and no form.
    fields = (
        "character_name",
        "character_id",
        "character_owner_hash",
        "user",
        "token_type",
        "scopes",
        "created",
        "updated",
        "access_token_expires",
        "can_refresh",
        "sso_version",
    )
    readonly_fields = tuple(name for name in fields if name != "user")  # only the owner may be changed
    actions = ("refresh_tokens", "revoke_tokens")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Token]:
        return super().get_queryset(request).select_related("user").prefetch_related("scopes")

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[Token], search_term: str) -> Any:
        """The token picker of a schedule offers only tokens the editor may use there."""
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        picking_for_schedule = (
            request.path.endswith("/autocomplete/") and request.GET.get("app_label") == "esi_tasks"
        )  # by name: esi never imports esi_tasks
        if picking_for_schedule and not request.user.has_perm("esi_tasks.use_any_token"):
            found = found.filter(user__pk=request.user.pk)
        return found, may_have_duplicates

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # tokens come from EVE SSO logins only

    @admin.display(description="scopes")
    def scope_count(self, obj: Token) -> int:
        return len(obj.scope_names)

    @admin.display(description="access token")
    def access_token_state(self, obj: Token) -> str:
        if obj.access_token_expires is None:
            return "expiry unknown"
        if obj.expired:
            return "expired"
        minutes = int((obj.access_token_expires - timezone.now()).total_seconds() // 60)
        return f"valid ({minutes} min left)"

    @admin.display(boolean=True, description="refreshable")
    def can_refresh(self, obj: Token) -> bool:
        return obj.can_refresh

    def _run(self, request: HttpRequest, queryset: QuerySet[Token], action: str, done: str) -> None:
        ok, failed = 0, []
        for token in queryset:
            label = f"{token.character_name} (token {token.pk})"
            try:
                getattr(token, action)()
            except EsiError as exc:
                failed.append(f"{label}: {exc}")
            else:
                ok += 1
        if ok:
            self.message_user(request, f"{ok} token(s) {done}.", messages.SUCCESS)
        for problem in failed:
            self.message_user(request, problem, messages.ERROR)

    @admin.action(description="Refresh selected tokens at EVE SSO", permissions=("change",))
    def refresh_tokens(self, request: HttpRequest, queryset: QuerySet[Token]) -> None:
        self._run(request, queryset, "refresh", "refreshed")

    @admin.action(description="Revoke selected tokens at EVE SSO (and delete them)", permissions=("delete",))
    def revoke_tokens(self, request: HttpRequest, queryset: QuerySet[Token]) -> None:
        self._run(request, queryset, "revoke", "revoked and deleted")


@admin.register(CallbackRedirect)
class CallbackRedirectAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("created", "completed", "url", "token")
    fields = ("url", "requested_scopes", "created", "completed", "token")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
