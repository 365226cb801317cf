"""``manage.py esi_setup_schedules [--reset]``: install django-esi's default beat entries."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from esi_tasks.scheduling import DEFAULT_SCHEDULES, install_default_schedules


class Command(BaseCommand):
    help = "Install django-esi's default periodic tasks into django-celery-beat (the token sweep)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--reset", action="store_true", help="Put back the defaults over admin edits.")

    def handle(self, *args: Any, **options: Any) -> None:
        done = install_default_schedules(reset=options["reset"])
        for name in DEFAULT_SCHEDULES:
            state = "installed" if name in done else "kept (already there)"
            self.stdout.write(f"{name}: {state}")
