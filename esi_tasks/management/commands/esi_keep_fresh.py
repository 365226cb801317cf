"""``manage.py esi_keep_fresh count|list|stop``: the keep-fresh chains in Redis.

* ``count [--operation OP]``: how many chains run;
* ``list [--operation OP] [--limit N]``: one line per chain, soonest next run first (operation,
  parameters, token id, next run, runs so far, chain id);
* ``stop CHAIN_ID ...`` | ``stop --operation OP`` | ``stop --all``: stop chains. A chain that an
  ``EndpointSchedule`` keeps fresh is started again by its beat entry: disable the schedule.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from esi.redis_pool import REDIS_ERRORS
from esi_tasks import keep_fresh


class Command(BaseCommand):
    help = "Count, list or stop the keep-fresh chains."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=("count", "list", "stop"), help="What to do.")
        parser.add_argument("chain_ids", nargs="*", metavar="CHAIN_ID", help="Chains to stop (with 'stop').")
        parser.add_argument("--operation", default=None, help="Only the chains of this operationId.")
        parser.add_argument("--limit", type=int, default=100, help="Most chains listed (default 100; 0: all).")
        parser.add_argument("--all", action="store_true", help="With 'stop': stop every chain.")

    def handle(self, *args: Any, **options: Any) -> None:
        action: str = options["action"]
        operation: str | None = options["operation"]
        try:
            if action == "count":
                self._count(operation)
            elif action == "list":
                self._list(operation, options["limit"])
            else:
                self._stop(operation, options["chain_ids"], options["all"])
        except REDIS_ERRORS as exc:
            raise CommandError(f"Redis at ESI_REDIS_URL did not answer ({type(exc).__name__}); try again.") from exc

    def _count(self, operation: str | None) -> None:
        total = keep_fresh.count() if operation is None else len(keep_fresh.chains(None, operation=operation))
        self.stdout.write(f"{total} chain(s)" + (f" of {operation}" if operation else ""))

    def _list(self, operation: str | None, limit: int) -> None:
        if limit < 0:
            raise CommandError(f"--limit must be 0 (all) or more, not {limit}.")
        found = keep_fresh.chains(limit or None, operation=operation)
        for chain in found:
            when = chain.next_run.isoformat(timespec="seconds") if chain.next_run else "?"
            params = json.dumps(chain.params, sort_keys=True)
            self.stdout.write(
                f"{chain.operation} {params} token={chain.token_id} next={when} runs={chain.runs} {chain.chain_id}"
            )
        self.stdout.write(f"{len(found)} of {keep_fresh.count()} chain(s) listed")

    def _stop(self, operation: str | None, chain_ids: list[str], everything: bool) -> None:
        if sum(bool(x) for x in (operation, chain_ids, everything)) != 1:
            raise CommandError("Say which chains to stop: CHAIN_ID ..., --operation OP, or --all.")
        if chain_ids:
            stopped = sum(keep_fresh.cancel_chain(chain_id) for chain_id in chain_ids)
        else:
            stopped = keep_fresh.stop_all(operation)
        self.stdout.write(f"{stopped} chain(s) stopped")
