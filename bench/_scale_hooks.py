"""Imported by the bench_scale workers (``celery worker -I _scale_hooks``): counts SQL statements.

Each pool process counts the statements its tasks run (Django's ``execute_wrapper``) and writes
the running total to ``$BENCH_SQL_DIR/<pid>`` after every task: a file, not Redis, so the count
does not add to the Redis commands the bench measures.
"""

from __future__ import annotations

import os
from typing import Any

from celery.signals import task_postrun, worker_process_init

_count = [0]


def _counting(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
    _count[0] += 1
    return execute(sql, params, many, context)


@worker_process_init.connect
def _install(**_: Any) -> None:
    from django.db import connection

    connection.execute_wrappers.append(_counting)


@task_postrun.connect
def _write(**_: Any) -> None:
    folder = os.environ.get("BENCH_SQL_DIR")
    if folder:
        with open(os.path.join(folder, str(os.getpid())), "w") as fh:
            fh.write(str(_count[0]))
