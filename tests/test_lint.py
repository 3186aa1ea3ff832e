"""The tree stays free of ruff findings and in ruff's format (the rule set and its reasons: [tool.ruff] in pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_check_finds_nothing():
    # `python -m ruff` runs the ruff installed next to this interpreter (requirements-dev.txt), so the
    # version is the pinned one whatever else is on PATH. No paths given: ruff checks the whole
    # repository under its own configuration, and .gitignore keeps virtualenvs and node_modules out.
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"ruff check found problems:\n{result.stdout}{result.stderr}"


def test_the_tree_is_in_ruff_format():
    # Formatting is mechanical, so it is never a review topic: `ruff format` before committing (pre-commit does).
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"files not in ruff format (run `ruff format`):\n{result.stdout}{result.stderr}"
