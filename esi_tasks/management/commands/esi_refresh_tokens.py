"""``manage.py esi_refresh_tokens [--all] [--enqueue]``: refresh tokens now, with a progress bar.

Default: the tokens the beat sweep would pick (about to lapse, or not validated for
``ESI_TOKEN_VALIDATION_PERIOD``); ``--all``: every token with a refresh token. Runs here with
``--concurrency`` refreshes at once (default ``ESI_REFRESH_SWEEP_CONCURRENCY``), or sends the
sweep to the workers with ``--enqueue``.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import connections

from esi.app_settings import esi_settings
from esi.exceptions import SSOUnavailable
from esi_tasks import token_refresh


class ProgressBar:
    """``[#######.............]  7/20  refreshed=6 invalid=1`` on one line, redrawn in place."""

    def __init__(self, out: Any, total: int, width: int = 30) -> None:
        self.out, self.total, self.width = out, total, width
        self.done = 0
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def advance(self, outcome: str) -> None:
        with self._lock:
            self.done += 1
            self.counts[outcome] = self.counts.get(outcome, 0) + 1
            self.draw()

    def draw(self) -> None:
        filled = int(self.width * self.done / self.total) if self.total else self.width
        counts = " ".join(f"{k}={v}" for k, v in sorted(self.counts.items()))
        self.out.write(f"\r[{'#' * filled}{'.' * (self.width - filled)}] {self.done}/{self.total}  {counts}", ending="")
        self.out.flush()


class Command(BaseCommand):
    help = "Refresh ESI tokens at EVE SSO now (what the beat sweep does), showing progress."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--all", action="store_true", help="every token with a refresh token")
        parser.add_argument("--enqueue", action="store_true", help="send the sweep to the workers instead")
        parser.add_argument("--concurrency", type=int, default=None, help="refreshes at once (here)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["enqueue"]:
            from esi_tasks.tasks import refresh_tokens

            result = refresh_tokens.delay()
            self.stdout.write(json.dumps({"task_id": result.id}))
            return
        from esi.models import Token

        if options["all"]:
            ids = list(
                Token.objects.exclude(refresh_token__isnull=True)
                .exclude(refresh_token="")
                .order_by("pk")
                .values_list("pk", flat=True)
            )
        else:
            ids = token_refresh.select_for_sweep()
        concurrency = max(1, int(options["concurrency"] or esi_settings.ESI_REFRESH_SWEEP_CONCURRENCY))
        bar = ProgressBar(self.stdout, len(ids))
        bar.draw()

        def one(token_id: int) -> None:
            try:
                outcome = token_refresh.refresh_one(token_id, by_sweep=True)
            except SSOUnavailable:
                outcome = "unavailable"
            finally:
                connections.close_all()
            bar.advance(outcome)

        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            list(pool.map(one, ids))
        self.stdout.write("")
        summary = ", ".join(f"{v} {k}" for k, v in sorted(bar.counts.items())) or "nothing to do"
        self.stdout.write(self.style.SUCCESS(f"{len(ids)} token(s): {summary}"))
