"""The public names of esi_tasks' modules are pinned (sorted ``__all__``), and the task names are stable."""

from __future__ import annotations

import importlib

import pytest

MODULES = {
    "esi_tasks.base": ["EsiTask", "REQUEUE_HEADER"],
    "esi_tasks.consumer": ["CLOSE_ATTEMPTS", "Consumer", "close_channels"],
    "esi_tasks.dedup": [
        "Claim",
        "ClaimLock",
        "PENDING_TTL",
        "claim",
        "claim_or_holder",
        "claims",
        "confirm",
        "extend",
        "holder",
        "queued_key",
        "release",
        "running",
        "running_key",
        "sending",
        "serving",
    ],
    "esi_tasks.changes": [
        "CrawlDigest",
        "Diff",
        "check_change_diffs",
        "diff",
        "diff_field",
        "id_field",
        "listening",
        "state_keys",
        "track",
    ],
    "esi_tasks.errors_memory": ["REMEMBERED_STATUSES", "forget", "recall", "remember"],
    "esi_tasks.fetch_task": ["FETCH_OPTIONS", "FetchTask", "announce_failure", "split_fetch_kwargs"],
    "esi_tasks.fetching": ["FetchOutcome", "PreparedFetch", "fetch", "prepare", "response_meta", "run", "stream"],
    "esi_tasks.keep_fresh": [
        "Chain",
        "cancel",
        "cancel_chain",
        "chains",
        "count",
        "count_late",
        "is_active",
        "is_news",
        "next_run_delay",
        "record_error",
        "run",
        "schedule_next",
        "start",
        "start_many",
        "state",
        "stop_all",
        "waiting_for",
    ],
    "esi_tasks.queues": [
        "CELERY_SETTINGS",
        "DEFAULT_QUEUE",
        "LONGEST_RUN",
        "RELIABILITY_SETTINGS",
        "TASK_ROUTES",
        "TOKEN_QUEUE",
        "VISIBILITY_TIMEOUT",
        "apply_defaults",
        "apply_reliability_defaults",
    ],
    "esi_tasks.signals": ["endpoint_changed", "endpoint_fetched", "fetch_failed", "page_fetched"],
    "esi_tasks.tasks": [
        "cleanup_callback_redirects",
        "fetch_endpoint",
        "keep_fresh",
        "keep_fresh_dispatch",
        "refresh_token",
        "refresh_token_lane",
        "refresh_tokens",
        "run_schedule",
    ],
    "esi_tasks.scheduling": [
        "DEFAULT_SCHEDULES",
        "KEEP_FRESH_WATCHDOG_MINUTES",
        "install_default_schedules",
        "next_phase",
        "on_schedule_deleted",
        "record_failure",
        "remove_periodic_task",
        "run",
        "split_crontab",
        "spread_crontab_minute",
        "stable_offset",
        "sync_periodic_task",
        "validate",
    ],
    "esi_tasks.token_refresh": [
        "DEFAULT_SWEEP_INTERVAL",
        "SweepProgress",
        "begin_sweep",
        "lanes_still_running",
        "refresh_lane",
        "refresh_one",
        "remember_lanes",
        "select_for_sweep",
        "split_lanes",
        "sweep_progress",
        "sweep_summary",
    ],
    "esi_tasks.tokens": [
        "forget_affiliation",
        "pool_of",
        "pooled_token",
        "required_roles",
        "resolve_token",
        "serve_pooled",
        "tokens_for_corporation",
    ],
}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_all_is_pinned_and_sorted(name):
    module = importlib.import_module(name)
    assert module.__all__ == sorted(module.__all__)
    assert module.__all__ == MODULES[name]
    for attr in module.__all__:
        assert hasattr(module, attr), attr


def test_task_names_are_explicit_and_stable():
    from esi_tasks import tasks

    assert {getattr(tasks, n).name for n in tasks.__all__} == {
        "esi_tasks.cleanup_callback_redirects",
        "esi_tasks.fetch_endpoint",
        "esi_tasks.keep_fresh",
        "esi_tasks.keep_fresh_dispatch",
        "esi_tasks.refresh_token",
        "esi_tasks.refresh_token_lane",
        "esi_tasks.refresh_tokens",
        "esi_tasks.run_schedule",
    }


def test_every_task_holds_the_late_ack_policy():
    from esi_tasks import tasks

    for name in tasks.__all__:
        task = getattr(tasks, name)
        assert task.acks_late is True and task.reject_on_worker_lost is True, name


def test_migrations_are_in_step(db):
    from io import StringIO

    from django.core.management import call_command

    call_command("makemigrations", "esi_tasks", "--check", "--dry-run", stdout=StringIO())
