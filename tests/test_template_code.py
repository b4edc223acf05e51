"""The template's own code meets the bar it sets for generated projects."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from ruff import find_ruff_bin

REPO = Path(__file__).resolve().parent.parent
OWN_CODE = ["benchmarks", "hooks", "ml_template_extensions.py", "src", "tests", "tools"]


@pytest.mark.parametrize(
    "command",
    [
        [find_ruff_bin(), "check", *OWN_CODE],
        [sys.executable, "-m", "black", "--check", *OWN_CODE],
        [sys.executable, "-m", "mypy"],
    ],
    ids=["ruff", "black", "mypy"],
)
def test_template_code_is_clean(command: list[str]) -> None:
    completed = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, check=False
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr
