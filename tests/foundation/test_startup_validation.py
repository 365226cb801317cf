"""Wrong setting values stop every process when the app loads, not deep inside a call.

Workers and WSGI servers never run ``manage.py check``; numeric strings (from environment
variables) are numbers; a project without a Celery broker or result backend is warned.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import override_settings

from esi.app_settings import esi_settings
from esi.checks import check_setting_values
from esi.exceptions import EsiConfigurationError

ROOT = Path(__file__).resolve().parents[2]


def run(args: list[str], settings_body: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run ``args`` with a settings module that is the test settings plus ``settings_body``."""
    (tmp_path / "bad_settings.py").write_text("from tests.settings import *  # noqa: F403\n" + settings_body)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bad_settings",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
    }
    return subprocess.run(args, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)


@override_settings(ESI_REQUESTS_READ_TIMEOUT="5", ESI_SERVER_ERROR_WAIT_EXPONENT=" 0.5 ", ESI_PAGE_CONCURRENCY="4")
def test_numeric_strings_are_numbers() -> None:
    assert check_setting_values() == []
    assert esi_settings.ESI_REQUESTS_READ_TIMEOUT == 5 and type(esi_settings.ESI_REQUESTS_READ_TIMEOUT) is int
    assert esi_settings.ESI_SERVER_ERROR_WAIT_EXPONENT == 0.5
    assert esi_settings.ESI_PAGE_CONCURRENCY == 4


@override_settings(ESI_REQUESTS_READ_TIMEOUT="ten")
def test_a_word_where_a_number_is_wanted_is_refused_on_read_and_by_the_check() -> None:
    (message,) = check_setting_values()
    assert message.id == "esi.E010"
    assert message.msg == "ESI_REQUESTS_READ_TIMEOUT is 'ten' (str); it must be a number (e.g. 5, 2.5 or \"5\")."
    assert message.hint == 'Set ESI_REQUESTS_READ_TIMEOUT to a number (e.g. 5, 2.5 or "5"); the default is 10.'
    with pytest.raises(EsiConfigurationError, match="ESI_REQUESTS_READ_TIMEOUT is 'ten'"):
        _ = esi_settings.ESI_REQUESTS_READ_TIMEOUT


@override_settings(ESI_PAGE_CONCURRENCY="2.5", ESI_CACHE_RESPONSE="yes", ESI_SPEC_FILE=3)
def test_each_kind_names_its_accepted_form() -> None:
    assert [m.msg.split(" it must be ")[1] for m in check_setting_values()] == [
        "True or False.",
        "a string or None.",
        'a whole number (e.g. 5 or "5").',
    ]


def test_a_wrong_value_stops_django_setup(tmp_path: Path) -> None:
    done = run([sys.executable, "-c", "import django; django.setup()"], 'ESI_REQUESTS_READ_TIMEOUT = "ten"\n', tmp_path)
    assert done.returncode == 1
    assert done.stderr.splitlines()[-2:] == [
        "esi.exceptions.EsiConfigurationError: django-esi settings are wrong (fix them and restart):",
        "  esi.E010: ESI_REQUESTS_READ_TIMEOUT is 'ten' (str); it must be a number (e.g. 5, 2.5 or \"5\"). "
        'Set ESI_REQUESTS_READ_TIMEOUT to a number (e.g. 5, 2.5 or "5"); the default is 10.',
    ]


def test_a_wrong_value_stops_a_celery_worker_before_it_takes_tasks(tmp_path: Path) -> None:
    celery = [sys.executable, "-m", "celery", "-A", "tests.celery_app", "worker", "--pool", "solo", "-Q", "nothing"]
    done = run(celery, 'ESI_PAGE_CONCURRENCY = "eight"\n', tmp_path)
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert "ESI_PAGE_CONCURRENCY is 'eight' (str); it must be a whole number" in output
    assert "ready." not in output


def test_a_silenced_check_is_not_raised_at_load(tmp_path: Path) -> None:
    body = 'ESI_REQUESTS_READ_TIMEOUT = 30\nSILENCED_SYSTEM_CHECKS = ["esi.E013"]\n'
    done = run([sys.executable, "-c", "import django; django.setup()"], body, tmp_path)
    assert done.returncode == 0, done.stderr


def test_no_broker_or_result_backend_is_a_warning(tmp_path: Path) -> None:
    body = "del CELERY_BROKER_URL, CELERY_RESULT_BACKEND\n"
    done = run([sys.executable, "-m", "django", "check"], body, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "esi_tasks.W001" in done.stderr and "esi_tasks.W002" in done.stderr
    assert "Set CELERY_BROKER_URL = 'redis://127.0.0.1:6379/0'" in done.stderr


def test_broker_settings_the_celery_app_does_not_see_point_at_the_init_import(tmp_path: Path) -> None:
    done = run([sys.executable, "-m", "django", "check"], "", tmp_path)  # tests.settings, no Celery app imported
    assert "esi_tasks.W001" in done.stderr
    assert "from .celery import app as celery_app" in done.stderr


def test_a_project_with_its_celery_app_loaded_gets_no_warning(tmp_path: Path) -> None:
    check = "import tests.celery_app, django; django.setup(); from django.core.management import call_command; "
    done = run([sys.executable, "-c", check + "call_command('check')"], "", tmp_path)
    assert done.returncode == 0 and "esi_tasks.W00" not in done.stderr + done.stdout, done.stderr
