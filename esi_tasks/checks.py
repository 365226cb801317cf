"""System checks of the Celery layer: a broker and a result backend the project's app can see.

Without them ``fetch_endpoint.delay(...)`` goes to Celery's built-in default (amqp on localhost)
and ``.get()`` fails with "No result backend is configured"; ``manage.py check`` says so first.
A Redis broker's ``visibility_timeout`` shorter than the longest countdown of an ESI task plus
its run delivers such tasks again before they are due (docs/reliability.md): a warning too.
"""

from __future__ import annotations

from typing import Any

from celery import current_app
from django.conf import settings
from django.core.checks import CheckMessage, Warning, register

from esi.app_settings import esi_settings
from esi_tasks.base import EsiTask
from esi_tasks.queues import LONGEST_RUN

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


#: kombu's Redis transport's own default.
KOMBU_VISIBILITY_TIMEOUT = 3600


def longest_countdown(app: Any) -> float:
    """The longest countdown, in seconds, with which an ESI task of ``app`` is sent again: a retry
    after its longest backoff with jitter (each task's own ``retry_backoff_max``, annotations
    included), or a re-queue after ESI's longest accepted pause (``ESI_MAX_PAUSE``) or the daily
    downtime (``ESI_DOWNTIME_DURATION``, when ``ESI_DOWNTIME_START`` is set), with its jitter."""
    pause = float(esi_settings.ESI_MAX_PAUSE)
    if esi_settings.ESI_DOWNTIME_START:
        pause = max(pause, float(esi_settings.ESI_DOWNTIME_DURATION))
    longest = 0.0
    for task in app.tasks.values():
        if isinstance(task, EsiTask):
            retry = float(task.retry_backoff_max) * (1.5 if task.retry_jitter else 1.0)
            requeue = pause + min(float(task.requeue_jitter_max), 0.1 * pause)
            longest = max(longest, retry, requeue)
    return longest


@register("esi_tasks")
def check_visibility_timeout(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """A Redis broker delivers an unacknowledged message again after ``visibility_timeout``: it
    must outlast the longest countdown an ESI task is sent with plus the longest run."""
    conf = current_app.conf
    url = conf.broker_url
    if not isinstance(url, str) or not url.startswith(("redis://", "rediss://", "redis+socket://")):
        return []
    visibility = (conf.broker_transport_options or {}).get("visibility_timeout", KOMBU_VISIBILITY_TIMEOUT)
    needed = longest_countdown(current_app) + LONGEST_RUN
    if not isinstance(visibility, int | float) or visibility >= needed:
        return []
    return [
        Warning(
            f"The Celery broker's visibility_timeout ({visibility} s) is shorter than the longest countdown an "
            f"ESI task is sent with plus {LONGEST_RUN} s of running ({needed:.0f} s): such a task is delivered "
            "to a second worker before it is due and runs twice.",
            hint=(
                f"Set CELERY_BROKER_TRANSPORT_OPTIONS['visibility_timeout'] to {int(needed) + 1} or more (esi_tasks "
                "sets 2400 when you set none), or shorten the tasks' retry_backoff_max, ESI_MAX_PAUSE or "
                "ESI_DOWNTIME_DURATION; see docs/reliability.md."
            ),
            id="esi_tasks.W003",
        )
    ]
