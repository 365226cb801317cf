"""Count and compare Alliance Auth suite results from Django's ``-v 2`` test logs.

``summarize.py LOG``: ``passed/failed/errors/skipped`` of one run.
``summarize.py --known known_failures.txt LOG``: also exit 1 when a test outside that list
did not pass (or no test ran).
``summarize.py BASELINE_LOG OURS_LOG``: both, and every test that passes in the baseline but
not in ours (exit status 1 when there is one).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

_HEAD = re.compile(r"^([\w.]+) \(([\w.]+)\)")
# The outcome ends the "... " line, or stands on a line of its own after what the test printed.
_TAIL = re.compile(r"(?:\.\.\. |^)(ok|FAIL|ERROR|skipped|expected failure|unexpected success)(?:$| ')")
_TRAILER = re.compile(r"^(ERROR|FAIL): ([\w.]+) \(([\w.]+)\)", re.M)
_OUTCOME = {
    "ok": "passed",
    "FAIL": "failed",
    "ERROR": "errors",
    "skipped": "skipped",
    "expected failure": "passed",
    "unexpected success": "failed",
}


def _name(method: str, where: str) -> str:
    where = where.removeprefix("unittest.loader._FailedTest.")  # a module that failed to import
    return where if where.endswith("." + method) or where == method else f"{where}.{method}"


def results(log: str) -> dict[str, str]:
    """Each test's outcome, keyed by its dotted name (a docstring may put the outcome a line later)."""
    found: dict[str, str] = {}
    current: str | None = None
    for line in log.splitlines():
        head = _HEAD.match(line)
        if head:
            current = _name(*head.groups())
        tail = _TAIL.search(line)
        if tail and current:
            found.setdefault(current, _OUTCOME[tail.group(1)])
            current = None
    # Class- and module-level errors (setUpClass, imports) show only in the trailer.
    for kind, method, where in _TRAILER.findall(log):
        found.setdefault(_name(method, where), "failed" if kind == "FAIL" else "errors")
    return found


def counts(found: dict[str, str]) -> dict[str, int]:
    tally = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    for outcome in found.values():
        tally[outcome] += 1
    return tally


def main(argv: list[str]) -> int:
    known: set[str] | None = None
    if argv[:1] == ["--known"]:
        lines = Path(argv[1]).read_text().splitlines()
        known = {line.strip() for line in lines if line.strip() and not line.startswith("#")}
        argv = argv[2:]
    runs = [results(Path(p).read_text(errors="replace")) for p in argv]
    for path, found in zip(argv, runs, strict=True):
        c = counts(found)
        tally = f"{c['passed']} passed, {c['failed']} failed, {c['errors']} errors, {c['skipped']} skipped"
        print(f"{Path(path).stem}: {tally}")
    if known is not None:
        found = runs[0]
        unexpected = sorted(t for t, o in found.items() if o != "passed" and t not in known)
        for test in unexpected:
            print(f"did not pass (and passes on django-esi 10.0.0): {test} ({found[test]})")
        return 1 if unexpected or not counts(found)["passed"] else 0
    if len(runs) == 2:
        base, ours = runs
        lost = sorted(t for t, o in base.items() if o == "passed" and ours.get(t) != "passed")
        for test in lost[:40]:
            print(f"passes on the baseline, not here: {test} ({ours.get(test, 'not run')})")
        if len(lost) > 40:
            print(f"... and {len(lost) - 40} more")
        print(f"tests passing on the baseline and not here: {len(lost)}")
        return 1 if lost else 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
