"""Refresh tokens encrypted at rest: Fernet (AES-128-CBC + HMAC-SHA256) from ``cryptography``.

Stored form: ``esi-fernet$<Fernet token>``; anything without that prefix is a plaintext value
written before encryption was on, and is read as it is. Keys come from settings, never from
the database, so a dump of the database alone yields no usable refresh token:

* ``ESI_TOKEN_ENCRYPTION_KEYS`` - Fernet keys, newest first: the first encrypts, every one
  decrypts (``MultiFernet``), which is how keys are rotated (``manage.py esi_encrypt_tokens``).
* unset: one key derived (HKDF-SHA256) from ``SECRET_KEY``, plus one from each of
  ``SECRET_KEY_FALLBACKS``, so rotating ``SECRET_KEY`` the Django way keeps tokens readable.
"""

from __future__ import annotations

import base64
import logging
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

from esi.app_settings import esi_settings
from esi.exceptions import EsiConfigurationError

__all__ = ["PREFIX", "Undecryptable", "decrypt", "enabled", "encrypt", "is_current", "is_encrypted", "keys"]

logger = logging.getLogger(__name__)

PREFIX = "esi-fernet$"
_INFO = b"django-esi refresh tokens at rest"


class Undecryptable(str):
    """A stored value no configured key decrypts (the key was removed?): kept as stored, so a
    save does not destroy it, and never sent to SSO (``Token`` refuses to refresh with it)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<undecryptable refresh token>"


def _derived(secret: str) -> bytes:
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret.encode())
    return base64.urlsafe_b64encode(raw)


def keys() -> tuple[bytes, ...]:
    """The Fernet keys in use, newest first (explicit ones, else derived from ``SECRET_KEY``)."""
    explicit = esi_settings.ESI_TOKEN_ENCRYPTION_KEYS
    if explicit:
        return tuple(k.encode() if isinstance(k, str) else bytes(k) for k in explicit)
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", ())]
    return tuple(_derived(str(s)) for s in secrets if s)


@lru_cache(maxsize=8)
def _fernets(key_set: tuple[bytes, ...]) -> tuple[MultiFernet, Fernet]:
    try:
        fernets = [Fernet(k) for k in key_set]
    except (ValueError, TypeError) as exc:
        raise EsiConfigurationError(
            "ESI_TOKEN_ENCRYPTION_KEYS holds a value that is not a Fernet key (32 url-safe base64 bytes); "
            'make one with: python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
        ) from exc
    if not fernets:
        raise EsiConfigurationError(
            "Refresh-token encryption needs a key: set ESI_TOKEN_ENCRYPTION_KEYS, or SECRET_KEY to derive one from."
        )
    return MultiFernet(fernets), fernets[0]


def enabled() -> bool:
    return bool(esi_settings.ESI_TOKEN_ENCRYPTION)


def is_encrypted(stored: str | None) -> bool:
    return isinstance(stored, str) and stored.startswith(PREFIX)


def encrypt(value: str) -> str:
    """The stored form of ``value`` (encrypted with the newest key, or as is when disabled)."""
    if not value or is_encrypted(value) or not enabled():
        return value  # empty, already stored form (an Undecryptable kept as is), or encryption off
    multi, _ = _fernets(keys())
    return PREFIX + multi.encrypt(value.encode()).decode()


def decrypt(stored: str) -> str:
    """The plaintext of a stored value (a plaintext one as is); :class:`Undecryptable` if no key fits."""
    if not is_encrypted(stored):
        return stored
    multi, _ = _fernets(keys())
    try:
        return multi.decrypt(stored[len(PREFIX) :].encode()).decode()
    except InvalidToken:
        logger.error(
            "A stored refresh token cannot be decrypted with the configured keys (ESI_TOKEN_ENCRYPTION_KEYS / "
            "SECRET_KEY): was a key removed? The token is kept as stored and not used."
        )
        return Undecryptable(stored)


def is_current(stored: str) -> bool:
    """Whether ``stored`` is already in the form :func:`encrypt` writes now (key and on/off)."""
    if not stored:
        return True
    if not enabled():
        return not is_encrypted(stored)
    if not is_encrypted(stored):
        return False
    _, newest = _fernets(keys())
    try:
        newest.decrypt(stored[len(PREFIX) :].encode())
    except InvalidToken:
        return False
    return True
