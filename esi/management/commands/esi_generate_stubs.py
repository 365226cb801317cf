"""Write the typed ``client.<Tag>.<OperationId>(...)`` stubs from the view of a compatibility date."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from esi._dates import check_date
from esi.client._stubs import STUB_PATH, render_stubs
from esi.client._views import get_spec
from esi.exceptions import EsiError


class Command(BaseCommand):
    help = (
        "Write a .pyi with typed client.<Tag>.<OperationId>(...) accessors (parameters, enums, result "
        "TypedDicts) from the view of a compatibility date (default: the client's). Without --output it "
        "replaces the stubs mypy reads for esi.client (esi/client/_typed.pyi)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--compatibility-date", "--date", dest="date", help="The view's date (YYYY-MM-DD).")
        parser.add_argument("--output", help=f"Write the stubs here instead of {STUB_PATH}.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            date = check_date(options["date"], name="--compatibility-date") if options.get("date") else None
            spec = get_spec(date)
        except EsiError as exc:
            raise CommandError(str(exc)) from exc
        target = Path(options["output"]) if options.get("output") else STUB_PATH
        text = render_stubs(spec)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"Cannot write {target}: {exc}") from exc
        self.stdout.write(f"Wrote the stubs of the ESI view of {spec.date} ({len(spec)} operations) to {target}.")
