"""Settings of a prefork worker subprocess: the test settings, pointed at the test's DB and simulator."""

import os

import dj_database_url

from tests.settings import *  # noqa: F403

if os.environ.get("ESI_TEST_WORKER_DATABASE_URL"):
    DATABASES = {"default": dj_database_url.parse(os.environ["ESI_TEST_WORKER_DATABASE_URL"])}
ESI_API_URL = os.environ.get("ESI_TEST_API_URL", "http://127.0.0.1:9/")
ESI_SSO_BASE_URL = os.environ.get("ESI_TEST_SSO_URL", "http://127.0.0.1:9")
ESI_SERVER_ERROR_MAX_RETRIES = 0
ESI_SERVER_ERROR_WAIT_EXPONENT = 0.01
CELERY_TASK_ANNOTATIONS = {"esi_tasks.*": {"retry_backoff": 0.2, "retry_backoff_max": 1.0}}
# A test that kills a child mid-refresh shortens the orphaned lock's life (default 60 s).
ESI_TOKEN_REFRESH_LOCK_TIMEOUT = float(os.environ.get("ESI_TEST_WORKER_LOCK_TIMEOUT", "60"))
