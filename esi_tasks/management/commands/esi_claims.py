"""``manage.py esi_claims [--clear] [--older-than S]``: the de-duplication claims in Redis.

Lists every queued (``q``) and running (``r``) claim with its task id, age and time to live.
``--clear`` deletes them (all, or those claimed more than ``--older-than`` seconds ago): after a
purged queue or a lost Redis, identical fetches are then sent again instead of being handed a
task that will never finish.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from esi.redis_pool import REDIS_ERRORS, get_redis
from esi_tasks import dedup


def _seconds(value: float | None) -> str:
    return f"{value:.0f} s" if value is not None else "?"


class Command(BaseCommand):
    help = "Show (and with --clear delete) the de-duplication claims of queued and running fetches."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--clear", action="store_true", help="Delete the claims listed.")
        parser.add_argument(
            "--older-than", type=float, default=None, metavar="S", help="Only claims taken more than S seconds ago."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        older: float | None = options["older_than"]
        try:
            found = [c for c in dedup.claims() if older is None or (c.age is not None and c.age > older)]
            for c in found:
                kind = "running" if ":dedup:r:" in c.key else "queued"
                self.stdout.write(f"{kind:8} task {c.task_id}  age {_seconds(c.age)}  expires in {_seconds(c.ttl)}")
            cleared = get_redis().delete(*[c.key for c in found]) if options["clear"] and found else 0
        except REDIS_ERRORS as exc:
            raise CommandError(f"Redis at ESI_REDIS_URL did not answer ({type(exc).__name__}); try again.") from exc
        summary = f"{len(found)} claim(s)"
        if options["clear"]:
            summary += f", {cleared} cleared"
        self.stdout.write(summary)
