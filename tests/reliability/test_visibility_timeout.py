"""The visibility timeout esi_tasks sets outlasts every countdown an ESI task is sent with plus its
run; a project whose own is shorter is warned (``esi_tasks.W003``), since its tasks would be
delivered to a second worker before they are due and run twice."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from esi_tasks.checks import longest_countdown
from esi_tasks.queues import LONGEST_RUN, VISIBILITY_TIMEOUT
from tests.celery_app import app

ROOT = Path(__file__).resolve().parents[2]


def test_the_visibility_timeout_outlasts_every_countdown_and_run(settings) -> None:
    settings.ESI_DOWNTIME_START = "11:00"  # the default: a re-queue may wait out the whole downtime
    longest = longest_countdown(app)
    assert longest == pytest.approx(902)  # the 900 s downtime (or a 600 s backoff + 50 % jitter), + 2 s jitter
    assert longest + LONGEST_RUN < VISIBILITY_TIMEOUT
    assert app.conf.broker_transport_options["visibility_timeout"] == VISIBILITY_TIMEOUT


def _check(settings_body: str, tmp_path: Path) -> str:
    """``manage.py check`` output for the test settings plus ``settings_body``, the app loaded."""
    (tmp_path / "vt_settings.py").write_text("from tests.settings import *  # noqa: F403\n" + settings_body)
    script = (
        "import tests.celery_app, django; django.setup()\n"
        "from django.core.management import call_command\n"
        "call_command('check')\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "vt_settings",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
    }
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout + done.stderr


@pytest.mark.parametrize(
    ("body", "warned"),
    [
        ("", False),  # esi_tasks' 2400 s
        ("CELERY_BROKER_TRANSPORT_OPTIONS = {'visibility_timeout': 3600}\n", False),
        ("CELERY_BROKER_TRANSPORT_OPTIONS = {'visibility_timeout': 300}\n", True),
        # a project's own annotation: retries up to 1 h (+ jitter) apart
        ("CELERY_TASK_ANNOTATIONS = {'esi_tasks.fetch_endpoint': {'retry_backoff_max': 3600}}\n", True),
    ],
    ids=["default", "longer", "shorter", "long-backoff"],
)
def test_a_visibility_timeout_shorter_than_a_countdown_is_warned(body: str, warned: bool, tmp_path: Path) -> None:
    output = _check(body, tmp_path)
    assert ("esi_tasks.W003" in output) is warned, output
    if warned:
        assert "runs twice" in output and "visibility_timeout" in output
