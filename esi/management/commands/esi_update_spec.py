"""Fetch ESI's OpenAPI document (as of ``ESI_COMPATIBILITY_DATE``) and store it for the client."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from esi.app_settings import esi_settings
from esi.client._spec import SpecIndex, clear_spec_cache
from esi.client._transport import Transport, compatibility_date
from esi.exceptions import EsiError


class Command(BaseCommand):
    help = (
        "Download {ESI_API_URL}meta/openapi.json for ESI_COMPATIBILITY_DATE and write it to ESI_SPEC_FILE "
        "(or the given path) after checking that it is a usable OpenAPI document."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", nargs="?", help="Where to write the document (default: ESI_SPEC_FILE).")
        parser.add_argument(
            "--compatibility-date", dest="date", help="Ask for this date instead of ESI_COMPATIBILITY_DATE."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        target = options.get("path") or esi_settings.ESI_SPEC_FILE
        if not target:
            raise CommandError(
                "Nowhere to write the spec: pass a path, or set ESI_SPEC_FILE to where the client should read it "
                "(the bundled copy inside the package is never overwritten)."
            )
        date = options.get("date") or compatibility_date()
        url = esi_settings.ESI_API_URL.rstrip("/") + "/meta/openapi.json"
        transport = Transport()
        headers = {**transport.base_headers(), "X-Compatibility-Date": date}
        try:
            response = transport.send("get", url, headers=headers)
        except EsiError as exc:
            raise CommandError(f"Could not fetch {url}: {exc}") from exc
        finally:
            transport.close()
        if response.status_code != 200:
            raise CommandError(f"{url} answered {response.status_code}: {response.text[:300]}")
        try:
            document = json.loads(response.content)
            index = SpecIndex(document, url)
        except (ValueError, EsiError) as exc:
            raise CommandError(f"{url} did not return a usable OpenAPI document: {exc}") from exc
        if not len(index):
            raise CommandError(f"{url} returned an OpenAPI document without operations.")
        path = Path(target)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(response.content)
        os.replace(tmp, path)  # atomic: readers see the old or the new document, never half
        clear_spec_cache()
        self.stdout.write(f"Wrote ESI spec {index.version or date} ({len(index)} operations) to {path}.")
