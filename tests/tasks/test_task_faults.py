"""The task layer meets a Redis or broker that does not answer: bookkeeping is skipped or expires,
callers get ``RedisUnavailable``; dedup claims are tied to their message; ``esi_claims``."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from celery import Celery
from django.core.management import call_command

from esi.exceptions import EsiNotFound, RedisUnavailable
from esi.redis_pool import reset_redis
from esi_tasks import dedup, errors_memory
from esi_tasks._keys import fetch_identity
from esi_tasks.queues import RELIABILITY_SETTINGS, VISIBILITY_TIMEOUT, apply_reliability_defaults
from esi_tasks.tasks import fetch_endpoint
from tests.chaos.redis_server import free_port
from tests.tasks.conftest import wait_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def dead_redis(settings):
    settings.ESI_REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    settings.ESI_REDIS_RETRIES = 0
    reset_redis()
    yield
    reset_redis()


def test_dedup_claims_are_skipped_when_redis_does_not_answer(dead_redis) -> None:
    assert dedup.claim("esi_tasks:dedup:q:x", "task-1", 30) is None  # not taken: the fetch is sent unshared
    assert dedup.extend("esi_tasks:dedup:q:x", "task-1", 30) is False
    assert dedup.release("esi_tasks:dedup:q:x", "task-1") is False  # it expires by itself
    assert dedup.holder("esi_tasks:dedup:q:x") is None


def test_error_memory_is_skipped_when_redis_does_not_answer(dead_redis) -> None:
    error = EsiNotFound(404, {"error": "Not found"}, operation="GetCharactersCharacterIdAssets")
    assert errors_memory.remember(error, "GetCharactersCharacterIdAssets", {"character_id": 1}, 1) is False
    assert errors_memory.recall("GetCharactersCharacterIdAssets", {"character_id": 1}, 1) is None
    with pytest.raises(RedisUnavailable, match="forgetting"):
        errors_memory.forget("GetCharactersCharacterIdAssets", {"character_id": 1}, 1)


def test_delay_with_the_broker_down_is_redis_unavailable(tmp_path: Path) -> None:
    (tmp_path / "broker_down.py").write_text(  # a refused connection fails at once, not after ~30 s of retries
        "from tests.settings import *  # noqa: F403\n"
        "ESI_REDIS_RETRIES = 0\n"
        "CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {'retry_policy': {'max_retries': 0}}\n"
    )
    script = (
        "import django; django.setup()\n"
        "import tests.celery_app\n"
        "from esi.exceptions import RedisUnavailable\n"
        "from esi_tasks.tasks import fetch_endpoint\n"
        "try:\n"
        "    fetch_endpoint.delay('GetStatus')\n"
        "except RedisUnavailable as exc:\n"
        "    print('RedisUnavailable:', exc)\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "broker_down",
        "ESI_TEST_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
    }
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    expected = "RedisUnavailable: esi_tasks.fetch_endpoint was not sent. The Celery broker or result backend"
    assert expected in done.stdout, done.stderr[-2000:]


@pytest.mark.django_db
def test_queued_claim_lives_once_published_and_callers_see_its_age(redis_client, caplog) -> None:
    caplog.set_level(logging.INFO, logger="esi_tasks.fetch_task")
    first = fetch_endpoint.delay("GetStatus")  # no worker: the message stays queued
    key = dedup.queued_key(fetch_identity("GetStatus", {}))
    assert redis_client.pttl(key) > dedup.PENDING_TTL * 1000  # extended once the broker had it
    second = fetch_endpoint.delay("GetStatus")
    assert second.id == first.id
    assert any(f"sharing the identical fetch {first.id}, claimed 0 s ago" in r.getMessage() for r in caplog.records)


@pytest.mark.django_db(transaction=True)
def test_an_expired_message_drops_its_claim(redis_client, celery_app, esi_sim, fast_policy) -> None:
    from celery.contrib.testing.worker import start_worker

    from tests.tasks.conftest import QUEUES

    result = fetch_endpoint.apply_async(("GetStatus",), expires=0.5)
    key = dedup.queued_key(fetch_identity("GetStatus", {}))
    assert dedup.holder(key) == result.id
    time.sleep(1.0)
    with start_worker(celery_app, pool="threads", concurrency=1, queues=QUEUES, perform_ping_check=True):
        wait_for(lambda: dedup.holder(key) is None, timeout=20)  # before: kept 10 minutes
    assert fetch_endpoint.delay("GetStatus").id != result.id


@pytest.mark.django_db
def test_esi_claims_lists_and_clears(redis_client, capsys) -> None:
    fetch_endpoint.delay("GetStatus")
    fetch_endpoint.delay("GetStatus", compatibility_date="2020-01-01")
    call_command("esi_claims")
    out = capsys.readouterr().out
    assert out.count("queued   task ") == 2 and "2 claim(s)" in out
    call_command("esi_claims", "--clear", "--older-than", "3600")
    assert "0 claim(s), 0 cleared" in capsys.readouterr().out
    call_command("esi_claims", "--clear")
    assert "2 claim(s), 2 cleared" in capsys.readouterr().out
    assert list(dedup.claims()) == []


def test_reliability_settings_apply_where_the_project_kept_celerys_defaults() -> None:
    app = Celery("plain")
    apply_reliability_defaults(app)
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.conf.worker_consumer == "esi_tasks.consumer:Consumer"  # rides out a Redis restart
    assert app.conf.worker_cancel_long_running_tasks_on_connection_loss is False
    assert app.conf.task_acks_late is True and app.conf.task_reject_on_worker_lost is True
    assert app.conf.broker_connection_retry_on_startup is True
    assert app.conf.broker_transport_options["visibility_timeout"] == VISIBILITY_TIMEOUT
    assert app.conf.result_backend_always_retry is True
    own = Celery("own")
    own.conf.worker_prefetch_multiplier = 8
    own.conf.broker_transport_options = {"visibility_timeout": 100, "queue_order_strategy": "priority"}
    apply_reliability_defaults(own)
    assert own.conf.worker_prefetch_multiplier == 8  # the project's choice wins
    options = own.conf.broker_transport_options
    assert options["visibility_timeout"] == 100 and options["queue_order_strategy"] == "priority"
    assert options["unacked_restore_throttle"] == 1  # what the project left unset is added
    assert set(RELIABILITY_SETTINGS) <= set(app.conf)


def test_esi_tasks_applies_them_to_the_projects_app() -> None:
    script = (
        "from celery import Celery\n"
        "app = Celery('proj'); app.config_from_object('django.conf:settings', namespace='CELERY'); app.set_default()\n"
        "import django; django.setup()\n"
        "print(app.conf.worker_prefetch_multiplier, app.conf.broker_transport_options['visibility_timeout'])\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["1", str(VISIBILITY_TIMEOUT)], done.stderr[-2000:]
