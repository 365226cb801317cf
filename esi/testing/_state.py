"""What the simulator observed: counters by route and status, and a bounded request log."""

from __future__ import annotations

from collections import Counter, deque
from typing import Any

__all__ = ["Observations"]

_REDACT = {"authorization", "cookie"}
_SSO_COUNTERS = ("authorize", "jwks", "revoke", "token_authorization_code", "token_refresh_token")


class Observations:
    """Counters and the request log, cleared by ``reset``."""

    def __init__(self, log_size: int = 20000) -> None:
        self.total = 0
        self.by_route: dict[str, Counter[str]] = {}
        self.by_status: Counter[str] = Counter()
        self.log: deque[dict[str, Any]] = deque(maxlen=log_size)

    def record(
        self,
        method: str,
        path: str,
        query: str,
        operation: str | None,
        status: int,
        headers: list[tuple[bytes, bytes]],
        character_id: int | None,
    ) -> None:
        self.total += 1
        key = str(status)
        self.by_status[key] += 1
        if operation is not None:
            counter = self.by_route.get(operation)
            if counter is None:
                counter = self.by_route[operation] = Counter()
            counter[key] += 1
        self.log.append(
            {
                "method": method,
                "path": path,
                "query": query,
                "operation": operation,
                "status": status,
                "headers": headers,  # raw; decoded (and redacted) only when the log is read
                "character_id": character_id,
            }
        )

    def stats(self, sso: Counter[str]) -> dict[str, Any]:
        return {
            "total": self.total,
            "by_route": {op: dict(c) for op, c in self.by_route.items()},
            "by_status": dict(self.by_status),
            "sso": {**dict.fromkeys(_SSO_COUNTERS, 0), **sso},
        }

    def entries(self, route: str | None = None) -> list[dict[str, Any]]:
        out = []
        for entry in self.log:
            if route is not None and entry["operation"] != route:
                continue
            headers = {}
            for name, value in entry["headers"]:
                key = name.decode("latin-1").lower()
                text = value.decode("latin-1")
                if key in _REDACT:
                    text = text.split(" ", 1)[0] + " <redacted>" if " " in text else "<redacted>"
                headers[key] = text
            out.append({**entry, "headers": headers})
        return out

    def clear(self) -> None:
        self.total = 0
        self.by_route.clear()
        self.by_status.clear()
        self.log.clear()
