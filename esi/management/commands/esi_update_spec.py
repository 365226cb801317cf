"""Fetch ESI's view of a compatibility date again and store it where every worker reads it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from esi._dates import check_date, default_date
from esi.app_settings import esi_settings
from esi.client._spec import SpecIndex
from esi.client._views import cached_dates, clear_spec_cache, fetch_document, store_view
from esi.exceptions import EsiError


class Command(BaseCommand):
    help = (
        "Fetch {ESI_API_URL}meta/openapi.json for a compatibility date and store it in the shared view store "
        "(Redis, or ESI_SPEC_CACHE_DIR). --date D refreshes one date; without it, every stored date and "
        "ESI_SPEC_FILE (when set). A path writes the document there instead."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", nargs="?", help="Write the document to this file instead of the view store.")
        parser.add_argument(
            "--date",
            "--compatibility-date",
            dest="date",
            help="The compatibility date (YYYY-MM-DD) whose view to fetch.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            date = check_date(options["date"], name="--date") if options.get("date") else None
        except EsiError as exc:
            raise CommandError(str(exc)) from exc
        target = options.get("path")
        if target:
            self._write_file(date or self._default_date(), Path(target))
        elif date:
            self._store(date)
        else:
            dates = self._cached()
            if not dates and not esi_settings.ESI_SPEC_FILE:
                raise CommandError(
                    "No view is stored yet and ESI_SPEC_FILE is not set: pass --date YYYY-MM-DD to fetch the view "
                    "of a date, or a path to write the document to."
                )
            for stored in dates:
                self._store(stored)
            if esi_settings.ESI_SPEC_FILE:
                self._write_file(self._default_date(), Path(esi_settings.ESI_SPEC_FILE))
        clear_spec_cache()  # this process reads the new documents; other processes when they restart

    @staticmethod
    def _default_date() -> str:
        try:
            return default_date()
        except EsiError as exc:
            raise CommandError(str(exc)) from exc

    @staticmethod
    def _cached() -> list[str]:
        try:
            return cached_dates()
        except EsiError as exc:  # Redis down or the folder unreadable
            raise CommandError(f"Cannot list the stored views: {exc}") from exc

    @staticmethod
    def _fetch(date: str) -> tuple[bytes, SpecIndex]:
        try:
            return fetch_document(date)
        except EsiError as exc:
            raise CommandError(f"Could not fetch ESI's view of {date}: {exc}") from exc

    def _store(self, date: str) -> None:
        content, index = self._fetch(date)
        try:
            where = store_view(date, content)
        except EsiError as exc:
            raise CommandError(f"Fetched ESI's view of {date} but {exc}") from exc
        self.stdout.write(f"Stored ESI's view of {date} ({len(index)} operations) in {where}.")

    def _write_file(self, date: str, path: Path) -> None:
        content, index = self._fetch(date)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
        os.replace(tmp, path)  # atomic: readers see the old or the new document, never half
        self.stdout.write(f"Wrote ESI's view of {date} ({len(index)} operations) to {path}.")
