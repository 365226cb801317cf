"""``manage.py esi_encrypt_tokens``: bring every stored refresh token to the current settings.

* after upgrading: encrypts the rows written in plaintext;
* after a key rotation (a new key first in ``ESI_TOKEN_ENCRYPTION_KEYS``, the old ones after
  it): re-encrypts every row with the new key; the old keys can then be removed;
* with ``ESI_TOKEN_ENCRYPTION = False``: decrypts every row (plaintext again).

Each row is rewritten only if needed, in batches, and only if it still holds what was read
(compare-and-set), so a refresh running at the same time is never overwritten. ``--check`` only counts;
``--generate-key`` prints a new Fernet key.
"""

from __future__ import annotations

from typing import Any

from cryptography.fernet import Fernet
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import TextField
from django.db.models.functions import Cast

from esi import _crypto
from esi.exceptions import EsiError
from esi.models import Token

_STORED = Cast("refresh_token", output_field=TextField())  # the column as stored, not decrypted


class Command(BaseCommand):
    help = "Encrypt (or re-encrypt with the newest key, or decrypt when disabled) every stored refresh token."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--check", action="store_true", help="Only count the rows that would change.")
        parser.add_argument("--generate-key", action="store_true", help="Print a new key for the settings and exit.")
        parser.add_argument("--batch-size", type=int, default=500, help="Rows read at a time (default 500).")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["generate_key"]:
            self.stdout.write(Fernet.generate_key().decode())
            return
        try:
            changed, unreadable, total = self._run(bool(options["check"]), max(1, int(options["batch_size"])))
        except EsiError as exc:
            raise CommandError(str(exc)) from exc
        target = "encrypted with the newest key" if _crypto.enabled() else "in plaintext (ESI_TOKEN_ENCRYPTION off)"
        verb = "would be rewritten" if options["check"] else "rewritten"
        self.stdout.write(f"{total} refresh token(s); {changed} {verb} to be {target}.")
        if unreadable:
            self.stderr.write(
                f"{unreadable} refresh token(s) cannot be decrypted with the configured keys and were left alone; "
                "add the key they were encrypted with to ESI_TOKEN_ENCRYPTION_KEYS and run this again."
            )

    def _run(self, check: bool, batch_size: int) -> tuple[int, int, int]:
        rows = (
            Token.objects.exclude(refresh_token__isnull=True)
            .exclude(refresh_token="")
            .annotate(stored=_STORED)
            .order_by("pk")
            .values_list("pk", "stored")
        )
        changed = unreadable = total = 0
        last = 0
        while True:
            batch = list(rows.filter(pk__gt=last)[:batch_size])
            if not batch:
                return changed, unreadable, total
            last = batch[-1][0]
            for pk, stored in batch:
                total += 1
                if _crypto.is_current(stored):
                    continue
                plain = _crypto.decrypt(stored)
                if isinstance(plain, _crypto.Undecryptable):
                    unreadable += 1
                    continue
                changed += 1
                if not check:
                    # Compare-and-set on the stored value: a refresh that stored a rotated token
                    # meanwhile wrote the current form already, and is never overwritten.
                    Token.objects.annotate(stored=_STORED).filter(pk=pk, stored=stored).update(refresh_token=plain)
