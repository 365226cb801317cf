"""``manage.py esi_refresh_tokens [--all] [--enqueue]``: refresh tokens now, showing progress.

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

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections

from esi.app_settings import esi_settings
from esi.management.errors import one_line_errors
from esi.models import Token
from esi_tasks import token_refresh
from esi_tasks.broker import BROKER_ERRORS, QUICK_RETRY, broker_problem
from esi_tasks.tasks import refresh_tokens


class Progress:
    """``7/20 tokens  refreshed=6 invalid=1``: whole lines (about ``lines`` of them), never redrawn in
    place, so log output of the refreshes never shares a line with the progress."""

    def __init__(self, out: Any, total: int, lines: int = 10) -> None:
        self.out, self.total = out, total
        self.step = max(1, total // lines)
        self.done = 0
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def advance(self, outcome: str) -> None:
        with self._lock:
            self.done += 1
            self.counts[outcome] = self.counts.get(outcome, 0) + 1
            if self.done == self.total or self.done % self.step == 0:
                self.draw()

    def draw(self) -> None:
        counts = " ".join(f"{k}={v}" for k, v in sorted(self.counts.items()))
        self.out.write(f"{self.done}/{self.total} tokens  {counts}".rstrip())
        self.out.flush()


class Command(BaseCommand):
    help = "Refresh ESI tokens at EVE SSO now (what the beat sweep does), showing progress."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--all", action="store_true", help="every token with a refresh token")
        parser.add_argument("--enqueue", action="store_true", help="send the sweep to the workers instead")
        parser.add_argument("--concurrency", type=int, default=None, help="refreshes at once (here)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["enqueue"]:
            try:
                result = refresh_tokens.apply_async(retry_policy=QUICK_RETRY)
            except BROKER_ERRORS as exc:
                raise CommandError(broker_problem(exc)) from exc
            self.stdout.write(json.dumps({"task_id": result.id}))
            return
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
        lanes = token_refresh.split_lanes(ids, concurrency)
        sweep = token_refresh.begin_sweep(ids, lanes, source="command")
        bar = Progress(self.stdout, len(ids))
        self.stdout.write(f"Refreshing {len(ids)} token(s), {concurrency} at once")

        def lane(token_ids: list[int]) -> None:
            try:
                token_refresh.refresh_lane(token_ids, lambda _, outcome: bar.advance(outcome), sweep=sweep)
            finally:
                connections.close_all()

        with one_line_errors(), ThreadPoolExecutor(max_workers=max(1, len(lanes))) as pool:
            list(pool.map(lane, lanes))
        summary = ", ".join(f"{v} {k}" for k, v in sorted(bar.counts.items())) or "nothing to do"
        self.stdout.write(self.style.SUCCESS(f"{len(ids)} token(s): {summary}"))
