"""Run every benchmark side by side on one simulator and print the figures.

    .venv/bin/python bench/run.py                      # all bench/bench_*.py modules
    .venv/bin/python bench/run.py client limits        # only bench_client.py and bench_limits.py
    .venv/bin/python bench/run.py --json results.json  # also write the raw results

Each ``bench/bench_<name>.py`` module is a scenario set. The protocol is small, so adding one is
just adding a file: the module defines ``run(url: str | None = None) -> dict`` (``url`` is the
running simulator; ``None`` means "start your own") and returns JSON-able results; an optional
``"summary"`` key holds the lines to print (ratios and their targets). A module with only a
``main()`` (that starts what it needs and prints its figures) is run as a script instead. Each module runs in its
own fresh process (Django settings, connection pools and imports never leak between scenario
sets), against the one simulator this runner starts. Redis: ``--redis`` or ``ESI_BENCH_REDIS_URL``
(default ``redis://127.0.0.1:6379/14``), passed to the modules as ``ESI_REDIS_URL``.

Benchmarks are never part of the test run, and their figures are ratios measured in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

_CHILD = """
import json, sys
sys.path[:0] = [{bench!r}, {root!r}]
import {module} as m
if hasattr(m, "run"):
    result = m.run(url={url!r})
    sys.stdout.write("\\n@@RESULT@@" + json.dumps(result, default=str) + "\\n")
else:  # a script-style module: main() prints its own figures
    sys.argv = [m.__file__]
    m.main()
"""


def discover() -> list[str]:
    return sorted(p.stem[len("bench_") :] for p in BENCH.glob("bench_*.py"))


def run_module(name: str, url: str, redis_url: str, timeout: float) -> dict[str, Any]:
    env = {**os.environ, "ESI_REDIS_URL": redis_url, "PYTHONPATH": str(ROOT)}
    code = _CHILD.format(bench=str(BENCH), root=str(ROOT), module=f"bench_{name}", url=url)
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT
    )
    elapsed = time.perf_counter() - started
    marker = "\n@@RESULT@@"
    if proc.returncode != 0:
        return {"error": f"exit {proc.returncode}", "stderr": proc.stderr[-3000:], "seconds": round(elapsed, 1)}
    if marker not in proc.stdout:  # main()-only module: its printed lines are the summary
        return {"summary": proc.stdout.rstrip().splitlines(), "seconds": round(elapsed, 1)}
    result: dict[str, Any] = json.loads(proc.stdout.rsplit(marker, 1)[1])
    result.setdefault("seconds", round(elapsed, 1))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="django-esi benchmarks (ratios measured side by side)")
    parser.add_argument("only", nargs="*", help=f"scenario sets to run (default all: {', '.join(discover())})")
    parser.add_argument("--redis", default=os.environ.get("ESI_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"))
    parser.add_argument("--json", help="write all results to this file")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per scenario set")
    args = parser.parse_args(argv)
    names = args.only or discover()
    unknown = sorted(set(names) - set(discover()))
    if unknown:
        parser.error(f"no bench/bench_{unknown[0]}.py; known: {', '.join(discover())}")

    from esi.testing._server import start_simulator

    results: dict[str, Any] = {}
    with start_simulator() as sim:
        print(f"simulator: {sim.url}   redis: {args.redis}   python: {sys.version.split()[0]}   cpus: {os.cpu_count()}")
        for name in names:
            print(f"\n== {name} ==", flush=True)
            result = run_module(name, sim.url, args.redis, args.timeout)
            results[name] = result
            if "error" in result:
                print(f"FAILED ({result['error']}):\n{result.get('stderr', '')}")
                continue
            for line in result.get("summary") or [json.dumps(result, indent=2, default=str)]:
                print(line)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    return 1 if any("error" in r for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
