"""Model fields of the ``esi`` app.

:class:`EncryptedTextField` keeps ``Token.refresh_token`` encrypted in the database while the
attribute stays a plain ``str`` in Python: code written for django-esi 10 reads and assigns
``token.refresh_token`` exactly as before. What changes: an equality lookup on the field
(``filter(refresh_token=...)``) cannot match an encrypted row (each encryption is different);
``isnull`` and ``=""`` still work. See :mod:`esi._crypto` and ``docs/security.md``.
"""

from __future__ import annotations

from typing import Any

from django.db import models

from esi import _crypto

__all__ = ["EncryptedTextField"]


class EncryptedTextField(models.TextField):  # type: ignore[type-arg]
    """A ``TextField`` stored encrypted (``esi-fernet$...``), read back as plaintext."""

    description = "Text encrypted at rest (Fernet)"

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        return None if value is None else _crypto.decrypt(value)

    def to_python(self, value: Any) -> Any:
        value = super().to_python(value)
        return _crypto.decrypt(value) if isinstance(value, str) else value

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        return _crypto.encrypt(value) if isinstance(value, str) else value

    def value_to_string(self, obj: Any) -> str:
        """``dumpdata`` writes the stored (encrypted) form: a fixture is no more usable than a dump."""
        value = self.value_from_object(obj)
        return "" if value is None else str(_crypto.encrypt(str(value)))
