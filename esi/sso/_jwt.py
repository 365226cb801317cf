"""Verify EVE SSO access tokens (JWTs) with joserfc against SSO's published keys.

The key is picked by the header's ``kid`` *and* ``alg`` (SSO signs with RS256 today and has
published an ES256 key), from the JWKS named in SSO's metadata, cached in Redis for
``ESI_JWKS_CACHE_TIMEOUT`` and fetched again when a ``kid`` is unknown (key rotation) or the
signature does not verify with the cached key (a key replaced under the same ``kid``) — at most
once a minute for both together, so forged tokens cannot make us hammer SSO. One fetch is
bounded (short timeouts, :data:`JWKS_FETCH_DEADLINE`), and a Redis that does not answer is
worked around: the keys this process last saw are used, else they are fetched from SSO.
Then the claims EVE defines: ``iss`` (``https://login.eveonline.com`` or the bare host),
``aud`` containing our client id and ``"EVE Online"``, ``exp`` (small leeway), ``sub``
``CHARACTER:EVE:<id>``, ``owner``, ``name`` and ``scp`` (a list, or a string for one scope).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from joserfc import jws, jwt
from joserfc.errors import BadSignatureError, ExpiredTokenError, JoseError, MissingClaimError
from joserfc.jwk import Key, KeySet

from esi.app_settings import esi_settings
from esi.exceptions import JWTValidationError
from esi.redis_pool import REDIS_ERRORS, get_redis
from esi.sso._http import raise_for_retryable, retrying, shared_transport, sso_headers
from esi.sso._metadata import accepted_issuers, cache_key, get_metadata

__all__ = [
    "ALGORITHMS",
    "LEEWAY",
    "EveClaims",
    "SigningKeys",
    "cached_signing_keys",
    "clear_key_cache",
    "verify_access_token",
    "verify_with",
]

logger = logging.getLogger(__name__)

ALGORITHMS = ("RS256", "ES256")
#: Seconds of clock skew tolerated on ``exp``/``iat``.
LEEWAY = 10
#: Seconds between two re-fetches of the key set (unknown ``kid``, or a signature that does not verify).
REFETCH_INTERVAL = 60
BAD_SIGNATURE_REFETCH_INTERVAL = REFETCH_INTERVAL  # the name of earlier releases
#: Longest seconds a key-set fetch may spend retrying a slow or failing SSO.
JWKS_FETCH_DEADLINE = 10.0
#: Per-phase timeout (connect, read, write, pool) of one key-set request, at most.
JWKS_FETCH_TIMEOUT = 5.0
_KTY_OF_ALG = {"RS256": "RSA", "ES256": "EC"}
_AUDIENCE_EVE = "EVE Online"
_SUB_PREFIX = "CHARACTER:EVE:"
_CHARACTER_SUB = re.compile(r"CHARACTER:EVE:([0-9]{1,19})", re.ASCII)

_parsed_lock = threading.Lock()
_parsed: dict[bytes, list[tuple[str | None, str | None, Key]]] = {}
#: The key set this process saw last, for when Redis does not answer.
_last_raw: list[bytes] = []
#: When this process last fetched the key set again (the throttle while Redis is down).
_last_refetch: list[float] = []


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


def _jwks_client() -> httpx.Client:
    s = esi_settings
    timeout = httpx.Timeout(
        connect=min(JWKS_FETCH_TIMEOUT, float(s.ESI_REQUESTS_CONNECT_TIMEOUT)),
        read=min(JWKS_FETCH_TIMEOUT, float(s.ESI_REQUESTS_READ_TIMEOUT)),
        write=min(JWKS_FETCH_TIMEOUT, float(s.ESI_REQUESTS_WRITE_TIMEOUT)),
        pool=min(JWKS_FETCH_TIMEOUT, float(s.ESI_REQUESTS_POOL_TIMEOUT)),
    )
    return httpx.Client(transport=shared_transport(), timeout=timeout, headers=sso_headers())


def _fetch_jwks() -> bytes:
    url = get_metadata().jwks_uri

    def call() -> bytes:
        response = _jwks_client().get(url)
        raise_for_retryable(response)
        response.raise_for_status()
        return response.content

    raw = retrying("signing keys request", call, deadline=JWKS_FETCH_DEADLINE)
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise JWTValidationError("EVE SSO's key set (JWKS) is not a JSON object with a list of keys.")
    try:
        get_redis().set(cache_key("jwks"), raw, ex=max(1, int(esi_settings.ESI_JWKS_CACHE_TIMEOUT)))
    except REDIS_ERRORS as exc:
        logger.warning("EVE SSO's signing keys not cached: Redis did not answer (%s)", type(exc).__name__)
    logger.info("Fetched EVE SSO's signing keys (%d) from %s", len(data["keys"]), url)
    return raw


def _cached_jwks() -> bytes | None:
    """The key set in Redis; when Redis does not answer, the one this process saw last."""
    try:
        raw = get_redis().get(cache_key("jwks"))
    except REDIS_ERRORS as exc:
        if _last_raw:
            logger.warning("Redis did not answer (%s): using the signing keys seen last", type(exc).__name__)
            return _last_raw[-1]
        logger.warning("Redis did not answer (%s): fetching EVE SSO's signing keys", type(exc).__name__)
        return None
    if raw is None:
        return None
    return raw if isinstance(raw, bytes) else str(raw).encode()


def _keys(refetch: bool = False) -> list[tuple[str | None, str | None, Key]]:
    raw = None if refetch else _cached_jwks()
    if raw is None:
        raw = _fetch_jwks()
    keys = _parse_jwks(raw)
    with _parsed_lock:
        _last_raw[:] = [raw]
    return keys


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
    if key is None and not refetch and _may_refetch():
        logger.info("Unknown EVE SSO key id %r (%s): fetching the key set again", kid, alg)
        key = _find(_keys(refetch=True), kid, alg)
    if key is None:
        raise JWTValidationError(
            f"The access token is signed with key {kid!r} ({alg}), which EVE SSO does not publish; "
            "it was not issued by the configured ESI_SSO_BASE_URL."
        )
    return key


def _may_refetch() -> bool:
    """True at most once per :data:`REFETCH_INTERVAL`, across every process (per process while
    Redis does not answer)."""
    now = time.monotonic()
    try:
        return bool(get_redis().set(cache_key("jwks-refetch"), 1, nx=True, ex=REFETCH_INTERVAL))
    except REDIS_ERRORS:
        with _parsed_lock:
            if _last_refetch and now - _last_refetch[-1] < REFETCH_INTERVAL:
                return False
            _last_refetch[:] = [now]
        return True


def _decode(access_token: str, header: Mapping[str, Any]) -> Any:
    """Check the signature; a cached key that fails gets one fresh look at SSO's key set."""
    algorithms = [header["alg"]]
    try:
        return jwt.decode(access_token, _select_key(header), algorithms=algorithms)
    except BadSignatureError:
        if not _may_refetch():
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
    except (JoseError, ValueError, TypeError) as exc:
        raise JWTValidationError(f"The access token cannot be decoded ({type(exc).__name__}).") from None
    return _checked(token.claims)


def _checked(claims: Mapping[str, Any]) -> EveClaims:
    """The claims EVE needs, one check at a time; ``JWTValidationError`` names the one that fails."""
    try:
        _claims_registry().validate(dict(claims))
    except ExpiredTokenError:
        raise JWTValidationError("The access token has expired.") from None
    except MissingClaimError as exc:
        raise JWTValidationError(f"The access token lacks the claim(s) {exc.claim}.") from None
    except JoseError as exc:
        claim = getattr(exc, "claim", "?")
        raise JWTValidationError(f"The access token's claim {claim!r} is not valid: {exc.description}") from None
    except (TypeError, ValueError, OverflowError) as exc:
        raise JWTValidationError(f"The access token's claims are malformed ({type(exc).__name__}).") from None
    _check_audience(claims.get("aud"))
    return _eve_claims(claims)


@dataclass(frozen=True)
class SigningKeys:
    """SSO's signing keys as read once (see :func:`cached_signing_keys`)."""

    keys: tuple[tuple[str | None, str | None, Key], ...] = field(repr=False)


def cached_signing_keys() -> SigningKeys | None:
    """SSO's keys as cached in Redis now, never fetched from SSO; ``None`` when none are cached
    or Redis does not answer. Read *before* a refresh is sent, so that its answer can be verified
    without any I/O (:func:`verify_with`) and stored at once."""
    try:
        raw = get_redis().get(cache_key("jwks"))
    except REDIS_ERRORS:
        return None
    if raw is None:
        return None
    try:
        keys = _parse_jwks(raw if isinstance(raw, bytes) else str(raw).encode())
    except ValueError:
        return None
    return SigningKeys(tuple(keys)) if keys else None


def verify_with(access_token: str, keys: SigningKeys) -> EveClaims | None:
    """Verify with ``keys`` only (no I/O, no refetch): the claims, or ``None`` when that does not
    settle it (unknown key, a signature or claim that fails): then :func:`verify_access_token`
    has the last word, with its refetch and its error message."""
    try:
        header = _header(access_token)
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in ALGORITHMS:
            return None
        key = _find(list(keys.keys), header.get("kid"), alg)
        if key is None:
            return None
        return _checked(jwt.decode(access_token, key, algorithms=[alg]).claims)
    except (JWTValidationError, JoseError, ValueError, TypeError):
        return None


def _eve_claims(claims: Mapping[str, Any]) -> EveClaims:
    sub = claims.get("sub")
    match = _CHARACTER_SUB.fullmatch(sub) if isinstance(sub, str) else None
    if match is None:
        raise JWTValidationError(f"The access token's subject {sub!r} is not an EVE character (CHARACTER:EVE:<id>).")
    owner = claims.get("owner")
    if not isinstance(owner, str) or not owner:
        raise JWTValidationError("The access token lacks the character's owner hash (claim 'owner').")
    scp = claims.get("scp") or []
    if isinstance(scp, str):
        scp = [scp]
    if not isinstance(scp, list) or not all(isinstance(s, str) for s in scp):
        raise JWTValidationError("The access token's claim 'scp' is not a scope or a list of scopes.")
    name = claims.get("name", "")
    if not isinstance(name, str):
        raise JWTValidationError("The access token's claim 'name' is not a character name.")
    return EveClaims(
        character_id=int(match.group(1)),
        character_name=name,
        owner_hash=owner,
        scopes=tuple(sorted(set(scp))),
        expires=_expiry(claims.get("exp")),
        claims=dict(claims),
    )


def _expiry(exp: Any) -> dt.datetime:
    """``exp`` as a datetime; a value no clock can hold (``1e20``, ``nan``) is refused."""
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        raise JWTValidationError("The access token's claim 'exp' is not a number of seconds.")
    try:
        return dt.datetime.fromtimestamp(float(exp), tz=dt.UTC)
    except (OverflowError, OSError, ValueError):
        raise JWTValidationError(f"The access token's claim 'exp' ({exp!r}) is not a time.") from None


def clear_key_cache() -> None:
    """Forget SSO's keys (Redis and this process)."""
    with _parsed_lock:
        _parsed.clear()
        _last_raw.clear()
        _last_refetch.clear()
    get_redis().delete(cache_key("jwks"))
