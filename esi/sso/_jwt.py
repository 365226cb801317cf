"""Verify EVE SSO access tokens (JWTs) with joserfc against SSO's published keys.

The key is picked by the header's ``kid`` *and* ``alg`` (SSO signs with RS256 today and has
published an ES256 key), from the JWKS named in SSO's metadata, cached in Redis for
``ESI_JWKS_CACHE_TIMEOUT`` and fetched again once when a ``kid`` is unknown (key rotation), or
when the signature does not verify with the cached key (a key replaced under the same ``kid``;
at most once a minute, so forged tokens cannot make us hammer SSO).
Then the claims EVE defines: ``iss`` (``https://login.eveonline.com`` or the bare host),
``aud`` containing our client id and ``"EVE Online"``, ``exp`` (small leeway), ``sub``
``CHARACTER:EVE:<id>``, ``owner``, ``name`` and ``scp`` (a list, or a string for one scope).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import BadSignatureError, ExpiredTokenError, JoseError, MissingClaimError
from joserfc.jwk import Key, KeySet

from esi.app_settings import esi_settings
from esi.exceptions import JWTValidationError
from esi.redis import get_redis
from esi.sso._http import http_client, raise_for_retryable, retrying
from esi.sso._metadata import accepted_issuers, cache_key, get_metadata

__all__ = ["ALGORITHMS", "LEEWAY", "EveClaims", "clear_key_cache", "verify_access_token"]

logger = logging.getLogger(__name__)

ALGORITHMS = ("RS256", "ES256")
#: Seconds of clock skew tolerated on ``exp``/``iat``.
LEEWAY = 10
#: Seconds between two re-fetches of the key set caused by a signature that does not verify.
BAD_SIGNATURE_REFETCH_INTERVAL = 60
_KTY_OF_ALG = {"RS256": "RSA", "ES256": "EC"}
_AUDIENCE_EVE = "EVE Online"
_SUB_PREFIX = "CHARACTER:EVE:"

_parsed_lock = threading.Lock()
_parsed: dict[bytes, list[tuple[str | None, str | None, Key]]] = {}


@dataclass(frozen=True)
class EveClaims:
    """Who an access token belongs to and what it may do (from its verified claims)."""

    character_id: int
    character_name: str
    owner_hash: str
    scopes: tuple[str, ...]
    expires: dt.datetime
    claims: Mapping[str, Any] = field(repr=False)


def _parse_jwks(raw: bytes) -> list[tuple[str | None, str | None, Key]]:
    keys = _parsed.get(raw)
    if keys is not None:
        return keys
    data = json.loads(raw)
    keys = []
    for item in data.get("keys", []) if isinstance(data, dict) else []:
        try:
            key = KeySet.import_key_set({"keys": [item]}).keys[0]
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            logger.warning(
                "Ignoring a key of EVE SSO's JWKS that cannot be imported (kid %r): %s", item.get("kid"), exc
            )
            continue
        keys.append((item.get("kid"), item.get("alg"), key))
    with _parsed_lock:
        if len(_parsed) > 8:
            _parsed.clear()
        _parsed[raw] = keys
    return keys


def _fetch_jwks() -> bytes:
    url = get_metadata().jwks_uri

    def call() -> bytes:
        response = http_client().get(url)
        raise_for_retryable(response)
        response.raise_for_status()
        return response.content

    raw = retrying("signing keys request", call)
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise JWTValidationError("EVE SSO's key set (JWKS) is not a JSON object with a list of keys.")
    get_redis().set(cache_key("jwks"), raw, ex=max(1, int(esi_settings.ESI_JWKS_CACHE_TIMEOUT)))
    logger.info("Fetched EVE SSO's signing keys (%d) from %s", len(data["keys"]), url)
    return raw


def _keys(refetch: bool = False) -> list[tuple[str | None, str | None, Key]]:
    raw = None if refetch else get_redis().get(cache_key("jwks"))
    if raw is None:
        raw = _fetch_jwks()
    return _parse_jwks(raw if isinstance(raw, bytes) else str(raw).encode())


def _find(keys: list[tuple[str | None, str | None, Key]], kid: str | None, alg: str) -> Key | None:
    for key_id, key_alg, key in keys:
        if key_id != kid:
            continue
        if key_alg == alg or (key_alg is None and key.key_type == _KTY_OF_ALG[alg]):
            return key
    return None


def _header(access_token: str) -> dict[str, Any]:
    try:
        return dict(jws.extract_compact(access_token.encode("ascii")).headers())
    except (JoseError, ValueError, UnicodeError) as exc:
        raise JWTValidationError(f"The access token is not a well-formed JWT ({type(exc).__name__}).") from None


def _select_key(header: Mapping[str, Any], refetch: bool = False) -> Key:
    alg, kid = header.get("alg"), header.get("kid")
    if alg not in ALGORITHMS:
        raise JWTValidationError(
            f"The access token is signed with algorithm {alg!r}; EVE SSO tokens use one of {', '.join(ALGORITHMS)}."
        )
    key = _find(_keys(refetch), kid, alg)
    if key is None and not refetch:
        logger.info("Unknown EVE SSO key id %r (%s): fetching the key set again", kid, alg)
        key = _find(_keys(refetch=True), kid, alg)
    if key is None:
        raise JWTValidationError(
            f"The access token is signed with key {kid!r} ({alg}), which EVE SSO does not publish; "
            "it was not issued by the configured ESI_SSO_BASE_URL."
        )
    return key


def _may_refetch_after_bad_signature() -> bool:
    """True at most once per :data:`BAD_SIGNATURE_REFETCH_INTERVAL`, across every process."""
    return bool(get_redis().set(cache_key("jwks-refetch"), 1, nx=True, ex=BAD_SIGNATURE_REFETCH_INTERVAL))


def _decode(access_token: str, header: Mapping[str, Any]) -> Any:
    """Check the signature; a cached key that fails gets one fresh look at SSO's key set."""
    algorithms = [header["alg"]]
    try:
        return jwt.decode(access_token, _select_key(header), algorithms=algorithms)
    except BadSignatureError:
        if not _may_refetch_after_bad_signature():
            raise
    logger.info("EVE SSO key %r did not verify the signature: fetching the key set again", header.get("kid"))
    return jwt.decode(access_token, _select_key(header, refetch=True), algorithms=algorithms)


def _claims_registry() -> jwt.JWTClaimsRegistry:
    return jwt.JWTClaimsRegistry(
        leeway=LEEWAY,
        iss={"essential": True, "values": accepted_issuers()},
        sub={"essential": True},
        aud={"essential": True},
        exp={"essential": True},
    )


def _check_audience(aud: Any) -> None:
    audiences = [aud] if isinstance(aud, str) else list(aud or [])
    client_id = esi_settings.ESI_SSO_CLIENT_ID
    missing = [a for a in (client_id, _AUDIENCE_EVE) if a not in audiences]
    if missing:
        raise JWTValidationError(
            f"The access token is not meant for this application: its audience lacks {', '.join(map(repr, missing))} "
            "(check ESI_SSO_CLIENT_ID)."
        )


def verify_access_token(access_token: str) -> EveClaims:
    """Verify signature and claims of an EVE SSO access token; raise ``JWTValidationError``."""
    if not isinstance(access_token, str) or not access_token:
        raise JWTValidationError("No access token was given to verify.")
    header = _header(access_token)
    try:
        token = _decode(access_token, header)
    except BadSignatureError:
        raise JWTValidationError("The access token's signature does not verify with EVE SSO's key.") from None
    except JoseError as exc:
        raise JWTValidationError(f"The access token cannot be decoded ({type(exc).__name__}).") from None
    claims = token.claims
    try:
        _claims_registry().validate(claims)
    except ExpiredTokenError:
        raise JWTValidationError("The access token has expired.") from None
    except MissingClaimError as exc:
        raise JWTValidationError(f"The access token lacks the claim(s) {exc.claim}.") from None
    except JoseError as exc:
        claim = getattr(exc, "claim", "?")
        raise JWTValidationError(f"The access token's claim {claim!r} is not valid: {exc.description}") from None
    _check_audience(claims.get("aud"))
    return _eve_claims(claims)


def _eve_claims(claims: Mapping[str, Any]) -> EveClaims:
    sub = str(claims.get("sub", ""))
    if not sub.startswith(_SUB_PREFIX) or not sub[len(_SUB_PREFIX) :].isdigit():
        raise JWTValidationError(f"The access token's subject {sub!r} is not an EVE character (CHARACTER:EVE:<id>).")
    owner = claims.get("owner")
    if not isinstance(owner, str) or not owner:
        raise JWTValidationError("The access token lacks the character's owner hash (claim 'owner').")
    scp = claims.get("scp") or []
    scopes = (scp,) if isinstance(scp, str) else tuple(str(s) for s in scp)
    return EveClaims(
        character_id=int(sub[len(_SUB_PREFIX) :]),
        character_name=str(claims.get("name", "")),
        owner_hash=owner,
        scopes=tuple(sorted(set(scopes))),
        expires=dt.datetime.fromtimestamp(float(claims["exp"]), tz=dt.UTC),
        claims=dict(claims),
    )


def clear_key_cache() -> None:
    """Forget SSO's keys (Redis and this process)."""
    get_redis().delete(cache_key("jwks"))
    with _parsed_lock:
        _parsed.clear()
