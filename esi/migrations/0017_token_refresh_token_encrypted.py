"""Refresh tokens encrypted at rest (``esi.fields.EncryptedTextField``); the column is unchanged.

Rows already stored stay readable as they are; ``manage.py esi_encrypt_tokens`` encrypts them
(and re-encrypts after a key rotation). Migrating back decrypts every row, so django-esi 10
reads them again. See ``docs/security.md``.
"""

from typing import Any

from django.db import migrations

import esi.fields


def decrypt_all(apps: Any, schema_editor: Any) -> None:
    """Backwards: plaintext again (the field is a plain TextField in this state)."""
    from esi import _crypto

    Token = apps.get_model("esi", "Token")
    for pk, stored in Token.objects.filter(refresh_token__startswith=_crypto.PREFIX).values_list("pk", "refresh_token"):
        plain = _crypto.decrypt(stored)
        if not isinstance(plain, _crypto.Undecryptable):
            Token.objects.filter(pk=pk).update(refresh_token=plain)


class Migration(migrations.Migration):
    dependencies = [
        ("esi", "0016_callbackredirect_pkce"),
    ]

    operations = [
        migrations.RunPython(migrations.RunPython.noop, decrypt_all),  # reversed after the AlterField
        migrations.AlterField(
            model_name="token",
            name="refresh_token",
            field=esi.fields.EncryptedTextField(
                blank=True,
                editable=False,
                help_text="A re-usable token to generate new access tokens upon expiry (encrypted at rest).",
                null=True,
            ),
        ),
    ]
