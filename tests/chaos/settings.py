"""Settings of every process of a chaos run (driver and workers): the run's own Redis (broker,
results, cache, limits, locks), its own SQLite file and simulator, quick retries."""

import os

import dj_database_url

from tests.settings import *  # noqa: F403

DATABASES = {"default": dj_database_url.parse(os.environ["ESI_CHAOS_DATABASE_URL"])}
ESI_API_URL = os.environ["ESI_TEST_API_URL"]
ESI_SSO_BASE_URL = os.environ["ESI_TEST_SSO_URL"]
ESI_SERVER_ERROR_MAX_RETRIES = 0  # Celery retries: every attempt is a task run the figures count
ESI_SERVER_ERROR_WAIT_EXPONENT = 0.01
ESI_REQUESTS_READ_TIMEOUT = 2  # a hung request is given up after 2 s
# Quick retries: the longest countdown (2 s) stays far below the visibility timeout, as it must
# (docs/reliability.md). Celery's annotations match exact task names ("esi_tasks.*" matches none).
_QUICK_RETRIES = {"retry_backoff": 0.2, "retry_backoff_max": 2.0, "max_retries": 5}
_RETRYING = ("esi_tasks.fetch_endpoint", "esi_tasks.refresh_token", "esi_tasks.keep_fresh", "esi_tasks.run_schedule")
CELERY_TASK_ANNOTATIONS = {name: _QUICK_RETRIES for name in _RETRYING}
# short, so that messages stranded by a killed worker come back within the run
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": int(os.environ.get("ESI_CHAOS_VISIBILITY_TIMEOUT", "30")),
    "unacked_restore_interval": 5,
}
CELERY_RESULT_EXPIRES = 3600
