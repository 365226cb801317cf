"""System checks of the Celery layer: a broker and a result backend the project's app can see.

Without them ``fetch_endpoint.delay(...)`` goes to Celery's built-in default (amqp on localhost)
and ``.get()`` fails with "No result backend is configured"; ``manage.py check`` says so first.
"""

from __future__ import annotations

from typing import Any

from celery import current_app
from django.conf import settings
from django.core.checks import CheckMessage, Warning, register

INSTALL_DOCS = "see django-esi's installation guide (docs/installation.md), step 7"


def _app_hint(name: str) -> str:
    if getattr(settings, f"CELERY_{name}", None):
        return (
            f"CELERY_{name} is set but the Celery app does not see it: import it in your project's "
            f"__init__.py (`from .celery import app as celery_app`); {INSTALL_DOCS}."
        )
    return f"Set CELERY_{name} = 'redis://127.0.0.1:6379/0' in your settings; {INSTALL_DOCS}."


@register("esi_tasks")
def check_celery_app(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """``esi_tasks`` is installed: the current Celery app needs a broker and a result backend."""
    conf = current_app.conf
    messages: list[CheckMessage] = []
    if not conf.broker_url:
        messages.append(
            Warning(
                "esi_tasks is installed but Celery has no broker configured: tasks would be sent to "
                "amqp://guest@localhost//.",
                hint=_app_hint("BROKER_URL"),
                id="esi_tasks.W001",
            )
        )
    if not conf.result_backend:
        messages.append(
            Warning(
                "esi_tasks is installed but Celery has no result backend configured: "
                "fetch_endpoint.delay(...).get() fails with 'No result backend is configured'.",
                hint=_app_hint("RESULT_BACKEND"),
                id="esi_tasks.W002",
            )
        )
    return messages
