"""``manage.py esi_cleanup_callbacks``: delete SSO logins older than ESI_CALLBACK_REDIRECT_MAX_AGE.

Logins are cleaned up whenever a new one starts; run this from cron (or a beat schedule) on
sites where logins are rare.
"""

from typing import Any

from django.core.management.base import BaseCommand

from esi.login import cleanup_callback_redirects


class Command(BaseCommand):
    help = "Delete SSO logins (CallbackRedirect rows) older than ESI_CALLBACK_REDIRECT_MAX_AGE seconds."

    def handle(self, *args: Any, **options: Any) -> None:
        deleted = cleanup_callback_redirects()
        self.stdout.write(f"Deleted {deleted} expired SSO login(s).")
