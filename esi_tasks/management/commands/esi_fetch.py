"""``manage.py esi_fetch <operation> [param=value ...] [--enqueue]``: fetch once and print the JSON.

Values are read as JSON when they parse (``character_id=90000001``, ``body=[1,2]``,
``flag=true``) and as text otherwise (``type=sell``). Without ``--enqueue`` the fetch runs in
this process, exactly as a worker would run it (token choice, error memory, cache); with it,
``fetch_endpoint`` is sent to the workers and its result awaited (``--no-wait``: print the task id).
The JSON goes to stdout; ``--all-pages`` reports the pages on stderr, one line at a time. Errors
(a Redis or broker that does not answer too) are one ``CommandError`` line, not a traceback.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
from collections.abc import Iterator
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper

from esi.client._pagination import page_progress
from esi.management.errors import one_line_errors
from esi_tasks.broker import BROKER_ERRORS, QUICK_RETRY, broker_problem
from esi_tasks.fetching import fetch
from esi_tasks.tasks import fetch_endpoint

#: The hint of a NoTokenError is written for the Python API; this command's flag is --token-id.
_TOKEN_HINT = ("pass token_id=...", "pass --token-id N (the id of a stored token, see the admin)")


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """``["a=1", "b=x"]`` -> ``{"a": 1, "b": "x"}``; CommandError for an item without ``=``."""
    params: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            raise CommandError(f"Parameters are name=value pairs; got {pair!r} (e.g. character_id=90000001).")
        try:
            params[name] = json.loads(raw)
        except ValueError:
            params[name] = raw
    return params


class Command(BaseCommand):
    help = "Fetch one ESI operation and print its JSON (in this process, or through the workers with --enqueue)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("operation", help="operationId, e.g. GetStatus (snake_case works too)")
        parser.add_argument("params", nargs="*", metavar="param=value", help="operation parameters")
        parser.add_argument("--token-id", type=int, default=None, help="use this stored token")
        parser.add_argument("--all-pages", action="store_true", help="fetch every page")
        parser.add_argument("--language", default=None, help="Accept-Language, e.g. de")
        parser.add_argument("--force-refresh", action="store_true", help="ignore the cached copy")
        parser.add_argument("--enqueue", action="store_true", help="run it as fetch_endpoint on the workers")
        parser.add_argument("--no-wait", action="store_true", help="with --enqueue: print the task id and exit")
        parser.add_argument("--timeout", type=float, default=120.0, help="with --enqueue: seconds to wait")
        parser.add_argument("--indent", type=int, default=2, help="JSON indent (0: one line)")

    def handle(self, *args: Any, **options: Any) -> None:
        params = parse_params(options["params"])
        fetch_options = {
            "token_id": options["token_id"],
            "all_pages": options["all_pages"],
            "language": options["language"],
            "force_refresh": options["force_refresh"],
        }
        try:
            with one_line_errors(), self._pages(options["all_pages"] and not options["enqueue"]):
                data = self._run(options, fetch_options, params)
        except CommandError as exc:
            raise CommandError(str(exc).replace(*_TOKEN_HINT)) from exc.__cause__
        indent = options["indent"] or None
        self.stdout.write(json.dumps(data, indent=indent, ensure_ascii=False, default=str))
        sys.stdout.flush()

    def _run(self, options: dict[str, Any], fetch_options: dict[str, Any], params: dict[str, Any]) -> Any:
        if not options["enqueue"]:
            return fetch(options["operation"], params=params, **fetch_options).data
        try:
            result = fetch_endpoint.apply_async(
                (options["operation"],), {**fetch_options, **params}, retry_policy=QUICK_RETRY
            )
            if options["no_wait"]:
                return {"task_id": result.id}
            return result.get(timeout=options["timeout"])
        except BROKER_ERRORS as exc:
            raise CommandError(broker_problem(exc)) from exc

    @contextlib.contextmanager
    def _pages(self, show: bool) -> Iterator[None]:
        """With ``--all-pages``: ``GetMarkets...: page 3 of 40`` on stderr, at most ~20 lines."""
        if not show:
            yield
            return
        progress = PageProgress(self.stderr)
        token = page_progress.set(progress.page_done)
        try:
            yield
        finally:
            page_progress.reset(token)


class PageProgress:
    """Counts the pages of a crawl (called from its threads) and writes whole lines."""

    def __init__(self, out: OutputWrapper, lines: int = 20) -> None:
        self.out, self.lines = out, lines
        self.done = 0
        self._lock = threading.Lock()

    def page_done(self, operation: str, total: int) -> None:
        with self._lock:
            self.done += 1
            step = max(1, total // self.lines)
            if self.done == 1 or self.done == total or self.done % step == 0:
                self.out.write(f"{operation}: page {self.done} of {total}")
