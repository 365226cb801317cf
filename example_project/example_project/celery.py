"""Celery app of the example project: configured from Django settings (``CELERY_*``).

Run next to Django, from the ``example_project/`` folder::

    celery -A example_project worker -l info -Q esi_tokens,esi,celery
    celery -A example_project beat -l info -S django_celery_beat.schedulers:DatabaseScheduler
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")

app = Celery("example_project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
