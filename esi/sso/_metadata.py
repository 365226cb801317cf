"""EVE SSO's OAuth metadata (``/.well-known/oauth-authorization-server``), cached in Redis.

Endpoints come from the metadata as the SSO guide asks; if SSO cannot be reached for it, the
documented paths under ``ESI_SSO_BASE_URL`` are used, so a metadata hiccup alone never stops a
refresh. Cached for ``ESI_JWKS_CACHE_TIMEOUT`` seconds, keyed by the base URL; a failed fetch is
remembered for ``FAILURE_TTL`` seconds (the defaults are cached), so while SSO is down each login
does not wait through the retries again.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from esi.app_settings import esi_settings
from esi.exceptions import SSOUnavailable
from esi.redis import REDIS_ERRORS, get_redis
from esi.sso._http import http_client, raise_for_retryable, retrying

__all__ = ["SSOMetadata", "accepted_issuers", "base_url", "cache_key", "clear_metadata_cache", "get_metadata"]

logger = logging.getLogger(__name__)

METADATA_PATH = "/.well-known/oauth-authorization-server"
FAILURE_TTL = 60


@dataclass(frozen=True)
class SSOMetadata:
    """The endpoints of one EVE SSO."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    revocation_endpoint: str
    jwks_uri: str

    @classmethod
    def defaults(cls, base: str) -> SSOMetadata:
        """The documented endpoints of EVE SSO v2 under ``base``."""
        return cls(
            issuer=base,
            authorization_endpoint=f"{base}/v2/oauth/authorize",
            token_endpoint=f"{base}/v2/oauth/token",
            revocation_endpoint=f"{base}/v2/oauth/revoke",
            jwks_uri=f"{base}/oauth/jwks",
        )


def base_url() -> str:
    """``ESI_SSO_BASE_URL`` without a trailing slash."""
    return str(esi_settings.ESI_SSO_BASE_URL).rstrip("/")


def cache_key(kind: str) -> str:
    """Redis key of a cached SSO document (``metadata`` or ``jwks``) of the configured SSO."""
    digest = hashlib.sha256(base_url().encode()).hexdigest()[:16]
    return f"esi:sso:{kind}:{digest}"


def _fetch(base: str) -> SSOMetadata:
    def call() -> dict[str, Any]:
        response = http_client().get(base + METADATA_PATH)
        raise_for_retryable(response)
        response.raise_for_status()
        data = response.json()
        if not isinstance(data, dict):
            raise ValueError("metadata is not a JSON object")
        return data

    data = retrying("metadata request", call)
    defaults = SSOMetadata.defaults(base)
    return SSOMetadata(**{key: str(data.get(key) or value) for key, value in asdict(defaults).items()})


def _cache(redis: Any, key: str, value: str, ttl: int) -> None:
    try:
        redis.set(key, value, ex=ttl)
    except REDIS_ERRORS:
        logger.warning("EVE SSO metadata not cached: Redis did not answer")


def get_metadata() -> SSOMetadata:
    """The SSO's endpoints, from Redis when cached, else fetched (or the documented defaults)."""
    base = base_url()
    redis = get_redis()
    key = cache_key("metadata")
    try:
        cached = redis.get(key)
    except REDIS_ERRORS:  # Redis away: ask SSO (or use the documented endpoints), cache nothing
        cached = None
    if cached:
        try:
            return SSOMetadata(**json.loads(cached))
        except (TypeError, ValueError):
            redis.delete(key)  # a value we cannot read came from Redis: Redis answers
    try:
        metadata = _fetch(base)
    except (SSOUnavailable, httpx.HTTPError, ValueError) as exc:
        logger.warning(
            "EVE SSO metadata at %s unavailable (%s); using the documented endpoints for the next %d s",
            base,
            exc.__cause__ or exc,
            FAILURE_TTL,
        )
        defaults = SSOMetadata.defaults(base)
        _cache(redis, key, json.dumps(asdict(defaults)), FAILURE_TTL)
        return defaults
    _cache(redis, key, json.dumps(asdict(metadata)), max(1, int(esi_settings.ESI_JWKS_CACHE_TIMEOUT)))
    return metadata


def accepted_issuers() -> list[str]:
    """``iss`` values EVE SSO uses: ``ESI_SSO_BASE_URL`` and its bare host.

    For the real SSO: ``https://login.eveonline.com`` and ``login.eveonline.com``.
    """
    base = base_url()
    return [base, urlsplit(base).netloc]


def clear_metadata_cache() -> None:
    """Forget the cached metadata and keys (after changing ``ESI_SSO_BASE_URL``, or in tests)."""
    get_redis().delete(cache_key("metadata"), cache_key("jwks"))
