"""``manage.py esi_fetch <operation> [param=value ...] [--enqueue]``: fetch once and print the JSON.

Values are read as JSON when they parse (``character_id=90000001``, ``body=[1,2]``,
``flag=true``) and as text otherwise (``type=sell``). Without ``--enqueue`` the fetch runs in
this process, exactly as a worker would run it (token choice, error memory, cache); with it,
``fetch_endpoint`` is sent to the workers and its result awaited (``--no-wait``: print the task id).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from esi.exceptions import EsiError


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
            if options["enqueue"]:
                from esi_tasks.tasks import fetch_endpoint

                result = fetch_endpoint.delay(options["operation"], **fetch_options, **params)
                if options["no_wait"]:
                    data: Any = {"task_id": result.id}
                else:
                    data = result.get(timeout=options["timeout"])
            else:
                from esi_tasks.fetching import fetch

                data = fetch(options["operation"], params=params, **fetch_options).data
        except EsiError as exc:
            raise CommandError(f"{type(exc).__name__}: {exc}") from exc
        indent = options["indent"] or None
        self.stdout.write(json.dumps(data, indent=indent, ensure_ascii=False, default=str))
        sys.stdout.flush()
