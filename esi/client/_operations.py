"""Checks a call against its :class:`~esi.client._spec.Operation` before any I/O.

Every problem a caller can cause is raised here, as a specific :mod:`esi.exceptions` error
that names the operation, the parameter or the scope and says what to do.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from esi.exceptions import InvalidParameter, MissingScope, TokenRequired

if TYPE_CHECKING:  # annotations only: _spec imports this module
    from esi.client._spec import Operation, Parameter

__all__ = ["PUBLIC", "TokenContext", "token_context", "validate_params"]

_JWT_TEXT = re.compile(r"[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-=]*)*")  # base64url parts joined by dots
_TYPE_NAMES = {"integer": "an integer", "number": "a number", "string": "a string", "boolean": "true or false"}


def _coerce(op: Operation, name: str, kind: str | None, enum: tuple[Any, ...] | None, value: Any) -> Any:
    """``value`` as the JSON type ``kind`` (ints given as digit strings are accepted)."""
    ok = True
    if kind == "integer":
        if isinstance(value, bool):
            ok = False
        elif isinstance(value, int):
            pass
        elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)
        else:
            ok = False
    elif kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            ok = False
    elif kind == "boolean":
        ok = isinstance(value, bool)
    elif kind == "string":
        ok = isinstance(value, str)
    if not ok:
        raise InvalidParameter(
            f"{op.id}: parameter {name!r} must be {_TYPE_NAMES.get(kind or '', kind)}, got {type(value).__name__} "
            f"{value!r}.",
            operation=op.id,
            parameter=name,
        )
    if enum is not None and value not in enum:
        raise InvalidParameter(
            f"{op.id}: parameter {name!r} must be one of {', '.join(map(str, enum))}; got {value!r}.",
            operation=op.id,
            parameter=name,
        )
    return value


def _check_param(op: Operation, param: Parameter, value: Any) -> Any:
    if param.location == "path" and isinstance(value, str) and value.strip() in ("", ".", ".."):
        # "." and ".." survive URL quoting and would make the URL point at another route
        raise InvalidParameter(
            f"{op.id}: path parameter {param.name!r} cannot be {value!r}; pass the real value.",
            operation=op.id,
            parameter=param.name,
        )
    if param.type == "array":
        if isinstance(value, str | bytes) or not isinstance(value, list | tuple | set | frozenset):
            value = [value]
        if not value:
            raise InvalidParameter(
                f"{op.id}: parameter {param.name!r} needs at least one value.", operation=op.id, parameter=param.name
            )
        return [_coerce(op, param.name, param.items_type, param.items_enum, v) for v in value]
    return _coerce(op, param.name, param.type, param.enum, value)


def validate_params(op: Operation, params: Mapping[str, Any]) -> dict[str, Any]:
    """Checked and normalised parameters (``body`` included); InvalidParameter otherwise.

    Required parameters with a schema default (``order_type`` of GetMarketsRegionIdOrders)
    get the default, as ESI's documentation of the route promises.
    """
    unknown = [k for k in params if k not in op.parameters and k != "body"]
    if unknown:
        allowed = ", ".join(sorted(op.parameters)) or "none"
        raise InvalidParameter(
            f"{op.id} has no parameter {', '.join(map(repr, sorted(unknown)))}; its parameters are: {allowed}."
            + (" Pass a request body as body=..." if op.body else ""),
            operation=op.id,
            parameter=sorted(unknown)[0],
        )
    out: dict[str, Any] = {}
    for name, param in op.parameters.items():
        value = params.get(name)
        if value is None:
            if param.has_default and param.required:
                out[name] = param.default
            elif param.required:
                raise InvalidParameter(
                    f"{op.id} needs the parameter {name!r} ({param.location}); pass {name}=...",
                    operation=op.id,
                    parameter=name,
                )
            continue
        value = _check_param(op, param, value)
        if name == "page" and value == 1:
            continue  # page 1 is what ESI serves without ``page``: one cache entry for both
        out[name] = value
    body = params.get("body")
    if op.body is None:
        if body is not None:
            raise InvalidParameter(f"{op.id} takes no request body.", operation=op.id, parameter="body")
    elif body is None:
        if op.body.required:
            raise InvalidParameter(
                f"{op.id} needs a JSON request body; pass body=[...] or body={{...}}.",
                operation=op.id,
                parameter="body",
            )
    else:
        if op.body.type == "array":
            if isinstance(body, str | bytes | Mapping) or not isinstance(body, list | tuple | set | frozenset):
                raise InvalidParameter(
                    f"{op.id}: body must be a list, got {type(body).__name__}.", operation=op.id, parameter="body"
                )
            body = list(body)
            if not body:
                raise InvalidParameter(f"{op.id}: body must not be empty.", operation=op.id, parameter="body")
        elif op.body.type == "object" and not isinstance(body, Mapping):
            raise InvalidParameter(
                f"{op.id}: body must be an object (dict), got {type(body).__name__}.", operation=op.id, parameter="body"
            )
        out["body"] = body
    return out


@dataclass(frozen=True, slots=True)
class TokenContext:
    """Who a call is made for. ``token`` is kept private: never logged or shown in a repr."""

    character_id: int | None
    scopes: frozenset[str] | None  # None: unknown (a raw access-token string)
    _token: Any = None
    cacheable: bool = True  # False for raw token strings: their character is not verified locally
    bucket: str | None = None  # the limiter identity when it is not the character (raw strings)

    def __repr__(self) -> str:
        return f"TokenContext(character_id={self.character_id!r})"

    @property
    def identity(self) -> str:
        """The limiter's bucket identity: the character, or ``app`` for public calls.

        A raw token string's character is not verified here, so it gets a bucket of its own
        (a digest of the string): a forged ``sub`` cannot spend another character's budget.
        """
        if self.bucket is not None:
            return self.bucket
        return str(self.character_id) if self.character_id is not None else "app"

    def resolved(self) -> TokenContext:
        """This context with the access token fetched now (once, before worker threads use it)."""
        if self._token is None or isinstance(self._token, str):
            return self
        return TokenContext(self.character_id, self.scopes, self.access_token(), self.cacheable, self.bucket)

    def access_token(self) -> str | None:
        tok = self._token
        if tok is None:
            return None
        if isinstance(tok, str):
            return tok
        return str(tok.valid_access_token())


#: The context of every public call.
PUBLIC = TokenContext(None, None)


def _scope_names(token: Any) -> frozenset[str] | None:
    names = getattr(token, "scope_names", None)
    if names is not None:
        return frozenset(names() if callable(names) else names)
    scopes = getattr(token, "scopes", None)
    if scopes is not None and hasattr(scopes, "values_list"):
        return frozenset(scopes.values_list("name", flat=True))
    if scopes is not None and not isinstance(scopes, str):
        return frozenset(getattr(s, "name", s) for s in scopes)
    return None


def _jwt_character(access_token: str) -> int | None:
    """The character id in an access token's ``sub`` claim, read WITHOUT verification.

    Only for messages about raw token strings: never for the rate-limit bucket or the cache key
    (``cacheable=False``); ESI verifies the token.
    """
    try:
        payload = access_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return int(str(claims["sub"]).rsplit(":", 1)[-1])
    except (IndexError, ValueError, KeyError, TypeError):
        return None


def token_context(op: Operation, token: Any) -> TokenContext:
    """The :class:`TokenContext` of a call with ``token`` (an ``esi.models.Token``-like object, an
    access-token string or None); TokenRequired/MissingScope when it cannot be made.

    (Picking a stored token for a call is the task layer's ``esi_tasks.tokens.resolve_token``.)"""
    if token is None or not op.scopes:
        if op.scopes:
            raise TokenRequired(
                f"{op.id} is a secured operation (scope {', '.join(op.scopes)}); pass token=<esi.models.Token>.",
                operation=op.id,
            )
        return PUBLIC  # public operation: a token is not sent
    if isinstance(token, str):
        if not token:
            raise TokenRequired(f"{op.id}: the access token given is empty.", operation=op.id)
        if not _JWT_TEXT.fullmatch(token):  # never echo it: it would end up in errors and logs
            raise TokenRequired(
                f"{op.id}: the access token given is not a JWT ({len(token)} characters, some of which an access "
                "token never has); pass the access token string as SSO issued it, or an esi.models.Token.",
                operation=op.id,
            )
        bucket = "token:" + hashlib.blake2b(token.encode(), digest_size=12).hexdigest()
        return TokenContext(_jwt_character(token), None, token, cacheable=False, bucket=bucket)
    if not hasattr(token, "valid_access_token"):
        raise TokenRequired(
            f"{op.id}: token must be an esi.models.Token or an access-token string, not {type(token).__name__}.",
            operation=op.id,
        )
    scopes = _scope_names(token)
    if scopes is not None and op.scopes:
        missing = [s for s in op.scopes if s not in scopes]
        if missing:
            raise MissingScope(
                f"{op.id} needs the scope {', '.join(missing)}, which the token of character "
                f"{getattr(token, 'character_id', '?')} does not have; ask the character to log in again "
                "with that scope.",
                operation=op.id,
                scopes=missing,
            )
    character_id = getattr(token, "character_id", None)
    return TokenContext(int(character_id) if character_id is not None else None, scopes, token)
