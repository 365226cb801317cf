"""Signals about tokens, in the spirit of authlib's ``token_update`` hook.

All are sent with ``sender=Token``:

* ``token_refreshed(token, rotated)`` - a new access token was stored; ``rotated`` says whether
  SSO also handed out a new refresh token (it was saved in the same UPDATE).
* ``token_invalidated(token, token_id, character_id, reason)`` - a token was deleted because it
  can no longer work: ``reason`` is ``"invalid_grant"`` (SSO refused its refresh token),
  ``"owner_changed"`` (the character now belongs to another account) or ``"revoked"``
  (revoked through :meth:`Token.revoke`). ``token.pk`` is already ``None``; ``token_id`` has it.
* ``token_owner_changed(character_id, old_owner_hashes, new_owner_hash, removed)`` - the
  character was transferred; ``removed`` lists the ids of the tokens deleted for it.
* ``token_created(token, new)`` - a login stored a token (``new`` False when an equivalent
  token was reused and updated).
"""

from django.dispatch import Signal

__all__ = ["token_created", "token_invalidated", "token_owner_changed", "token_refreshed"]

token_refreshed = Signal()
token_invalidated = Signal()
token_owner_changed = Signal()
token_created = Signal()
