"""The Celery app of the test suite, configured from Django settings (``CELERY_`` namespace).

Used in-process by ``start_worker`` (threads pool) and as ``celery -A tests.celery_app worker``
for prefork workers in a subprocess.
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

from celery import Celery

from esi_tasks.queues import apply_defaults

app = Celery("tests")
app.config_from_object("django.conf:settings", namespace="CELERY")
apply_defaults(app)
app.conf.task_default_queue = "celery"
app.conf.result_expires = 600
app.set_default()
app.autodiscover_tasks(["esi_tasks"])

import celery.contrib.testing.tasks  # noqa: E402,F401  (registers celery.ping for start_worker)

import tests.tasks.tasks_for_tests  # noqa: E402,F401  (callbacks used by the tests)
