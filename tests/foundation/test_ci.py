"""What runs outside the test command still runs in CI: the docs build and the demo's check."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _ci_commands() -> list[list[str]]:
    lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    return [shlex.split(line) for line in lines if line.strip() and not line.lstrip().startswith("#")]


def test_ci_runs_the_test_command_the_docs_build_and_the_demo_check() -> None:
    commands = _ci_commands()
    assert ["scripts/test"] in commands  # the README's test command, exactly
    assert ["scripts/docs"] in commands
    assert ["scripts/test", "-m", "demo"] in commands
    assert ["scripts/test", "-m", "chaos"] in commands  # the bounded chaos run (#12)


def test_the_docs_script_builds_with_warnings_as_errors() -> None:
    script = (ROOT / "scripts" / "docs").read_text(encoding="utf-8")
    assert "-m sphinx -W " in script and "set -euo pipefail" in script


def test_the_default_run_leaves_out_only_the_steps_ci_runs_on_their_own() -> None:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    addopts = shlex.split(cfg["tool:pytest"]["addopts"])
    assert addopts[addopts.index("-m") + 1] == "not chaos and not demo"
