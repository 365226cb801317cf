"""``SimulatorControl``: drive a running simulator from Python over its ``/_sim/...`` HTTP API."""

from __future__ import annotations

from typing import Any

import httpx

__all__ = ["SimulatorControl", "SimulatorControlError"]


class SimulatorControlError(RuntimeError):
    """The simulator refused a control call (bad argument, unknown route...); the message says why."""


class SimulatorControl:
    """Configure and observe one simulator. ``url`` is its base URL (ESI at ``url``, SSO at ``url``).

    ``client_id`` is the SSO client that :meth:`issue_tokens` issues tokens to by default (the
    pytest fixture sets it to ``ESI_SSO_CLIENT_ID`` so tokens pass the app's audience check).
    """

    def __init__(self, url: str, client_id: str | None = None, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.client_id = client_id
        self._http = httpx.Client(base_url=self.url, timeout=timeout)

    def __repr__(self) -> str:
        return f"SimulatorControl({self.url!r})"

    def close(self) -> None:
        """Close the HTTP connection pool (the simulator keeps running)."""
        self._http.close()

    def __enter__(self) -> SimulatorControl:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _call(self, action: str, method: str = "POST", params: dict[str, Any] | None = None, **args: Any) -> Any:
        if method == "POST":
            response = self._http.post(f"/_sim/{action}", json=args)
        else:
            response = self._http.get(f"/_sim/{action}", params=params)
        if response.status_code != 200:
            raise SimulatorControlError(f"{action}: {response.json().get('error', response.text)}")
        return response.json()

    # --- state -------------------------------------------------------------------------
    def ping(self) -> bool:
        """True when the simulator answers."""
        try:
            return bool(self._call("ping", "GET").get("ok"))
        except httpx.HTTPError:
            return False

    def reset(self) -> None:
        """Forget all state, faults, counters and characters except the defaults."""
        self._call("reset")

    def add_character(
        self,
        character_id: int,
        name: str | None = None,
        owner_hash: str | None = None,
        corporation_id: int | None = None,
    ) -> dict[str, Any]:
        """Create (or replace) a character the SSO can log in and issue tokens for."""
        return dict(
            self._call(
                "add_character",
                character_id=character_id,
                name=name,
                owner_hash=owner_hash,
                corporation_id=corporation_id,
            )
        )

    def set_login(self, character_id: int, scopes: list[str] | None = None) -> None:
        """Who ``/v2/oauth/authorize`` approves from now on; ``scopes=None`` grants what is asked."""
        self._call("set_login", character_id=character_id, scopes=scopes)

    def set_roles(self, character_id: int, roles: list[str] | None) -> None:
        """The character's in-game corporation roles (``None``, the default: every role)."""
        self._call("set_roles", character_id=character_id, roles=roles)

    def set_client(self, client_id: str | None, secret: str | None = None, redirect_uri: str | None = None) -> None:
        """Only accept this SSO client (and callback URL, if given); ``None`` accepts any client again."""
        self._call("set_client", client_id=client_id, secret=secret, redirect_uri=redirect_uri)

    def issue_tokens(
        self, character_id: int, scopes: list[str], expires_in: int = 1199, client_id: str | None = None
    ) -> dict[str, Any]:
        """Tokens as the token endpoint returns them, without the browser flow (a real signed JWT)."""
        return dict(
            self._call(
                "issue_tokens",
                character_id=character_id,
                scopes=scopes,
                expires_in=expires_in,
                client_id=client_id or self.client_id,
            )
        )

    def accept_refresh_token(self, refresh_token: str, character_id: int, scopes: list[str]) -> None:
        """Make the SSO accept a refresh token it never issued (e.g. migrated legacy tokens)."""
        self._call("accept_refresh_token", refresh_token=refresh_token, character_id=character_id, scopes=scopes)

    def revoke_refresh_token(self, refresh_token: str) -> bool:
        """Kill a refresh token (as when the player revokes the app); True if it was alive."""
        return bool(self._call("revoke_refresh_token", refresh_token=refresh_token)["revoked"])

    def change_owner(self, character_id: int) -> str:
        """Move the character to another account: new owner hash, all its refresh tokens die."""
        return str(self._call("change_owner", character_id=character_id)["owner_hash"])

    def rotate_signing_key(self, alg: str = "RS256", keep_old: bool = True) -> str:
        """Sign new tokens with a new key (RS256 or ES256); returns its ``kid``."""
        return str(self._call("rotate_signing_key", alg=alg, keep_old=keep_old)["kid"])

    # --- faults and limits ---------------------------------------------------------------
    def configure_route(self, route: str, **options: Any) -> dict[str, Any]:
        """Options for an operationId (or ``"*"`` for every ESI route); an option set to None is removed.

        Options: error_rate, error_statuses, status, latency, latency_jitter, hang, drop,
        malformed, cache_seconds, pages, rate_limit ({"max_tokens": n, "window": s}),
        retry_after, body_version, body (JSON served instead of the generated body, on every page).
        SSO endpoints are routes too: SsoToken, SsoAuthorize, SsoRevoke, SsoJwks, SsoMetadata
        (status, latency, retry_after). ``GetMetaOpenapi`` (the served ``/meta/openapi.json``)
        honours ``status``: ``status=503`` refuses the views.
        """
        return dict(self._call("configure_route", route=route, **options))

    def set_error_limit(self, limit: int = 100, window: float = 60) -> None:
        """Errors allowed per window (seconds) before every request gets 420 until it ends."""
        self._call("set_error_limit", limit=limit, window=window)

    def set_downtime(self, seconds: float) -> None:
        """Answer every ESI request with 503 for ``seconds`` (0 ends a downtime)."""
        self._call("set_downtime", seconds=seconds)

    # --- observation ---------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """``{"total", "by_route": {op: {status: n}}, "by_status", "sso": {...}}`` since the last reset."""
        return dict(self._call("stats", "GET"))

    def request_log(self, route: str | None = None) -> list[dict[str, Any]]:
        """ESI requests seen (oldest first), optionally of one operation; Authorization is redacted."""
        return list(self._call("request_log", "GET", params={"route": route} if route else None))
