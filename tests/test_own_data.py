"""Slow tier: a new user's first hour, from the demo to a table of their own.

The default project is trained on its demo data, as its README's quickstart
says. Then only the ``data:`` section of ``config.yaml`` is pointed at a
made-up table that shares nothing with the demo (string labels, column names
with spaces and mixed case, missing values in a numeric and a categorical
column, and columns that are not features), and the fairness audit at one of
its columns instead of the demo's ``sex``. The user trains, runs the promote
command that ``train`` prints, evaluates, predicts and exports the model card,
all through the installed console script in subprocesses. Everything happens
in a copy of the installed project, so the other slow modules' tracking store,
saved runs and files stay as they were.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
from pathlib import Path
from random import Random
from typing import Any

import pytest
import yaml

from baked import Cookies
from installed import DEFAULT_COMBINATION, Project, installed_project

pytestmark = pytest.mark.slow

# What a project accumulates by being used (its git repository, environment,
# tracking store, saved runs and outputs); the copy starts without any of it.
LOCAL_STATE = (
    ".git",
    ".venv",
    "mlflow.db",
    "mlruns",
    "mlartifacts",
    "saved-runs",
    "predictions.*",
    "_build",
    "dist",
    "*.log",
)

TABLE = "data/customers.csv"
ROWS = 300
SEED = 20260612
ID_COLUMN = "Customer ID"
TARGET = "Account Status"
LABELS = ("Churned", "Stayed")
PLANS = ("Basic", "Plus", "Premium")
REGIONS = ("North", "South", "East", "West")
NOTES = ("", "asked about the bill, twice", 'wants "Premium" cheaper', "moved house")
OWN_DATA = {
    "path": TABLE,
    "target": TARGET,
    "numeric_features": ["Monthly Spend", "Tenure Months", "Support Calls"],
    "categorical_features": ["Plan Type", "Region"],
}
OWN_AUDIT = {"sensitive_features": ["Region"]}
# Words of the demo data that a card of another table must not contain.
DEMO_WORDS = ("penguin", "palmer")


@pytest.fixture(scope="module")
def project(cookies_session: Cookies) -> Project:
    """The default classification project, with its environment."""
    return installed_project(cookies_session, DEFAULT_COMBINATION)


@pytest.fixture
def own_copy(project: Project, tmp_path: Path) -> Project:
    """A copy of the installed project without local state, sharing its ``.venv``."""
    copy = tmp_path / project.slug
    shutil.copytree(project.path, copy, ignore=shutil.ignore_patterns(*LOCAL_STATE))
    (copy / ".venv").symlink_to(project.path / ".venv")
    return Project(copy, project.answers, project.uv)


def churn_row(number: int, rng: Random) -> dict[str, str]:
    """Return one customer, whose status follows from calls, tenure and plan."""
    plan = rng.choice(PLANS)
    tenure = rng.randint(1, 72)
    calls = rng.randint(0, 9)
    risk = calls / 9 + 1 - tenure / 72 - PLANS.index(plan) * 0.25
    churned = risk + rng.gauss(0, 0.25) > 0.75
    spend = 20 + 25 * PLANS.index(plan) + rng.uniform(0, 15)
    return {
        ID_COLUMN: f"C-{number:04d}",
        "Monthly Spend": "" if rng.random() < 0.1 else f"{spend:.2f}",
        "Tenure Months": str(tenure),
        "Plan Type": "" if rng.random() < 0.1 else plan,
        "Region": rng.choice(REGIONS),
        "Support Calls": str(calls),
        "Note": rng.choice(NOTES),
        TARGET: LABELS[0] if churned else LABELS[1],
    }


def write_customer_table(path: Path) -> list[dict[str, str]]:
    """Write a seeded churn table of ``ROWS`` customers to ``path``; return its rows."""
    rng = Random(SEED)  # noqa: S311 (reproducible data, not security)
    rows = [churn_row(number, rng) for number in range(1, ROWS + 1)]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return rows


def section_lines(lines: list[str], name: str) -> range:
    """Return the indices of the lines of section ``name``, its header excluded."""
    start = next(
        index for index, line in enumerate(lines) if line.startswith(f"{name}:")
    )
    end = next(
        (
            index
            for index in range(start + 1, len(lines))
            if lines[index].strip() and not lines[index][0].isspace()
        ),
        len(lines),
    )
    return range(start + 1, end)


def edit_section(config: Path, name: str, changes: dict[str, Any]) -> None:
    """Set the keys of ``changes`` in section ``name`` of ``config``, by hand.

    As a user edits the file: each key's line gets the new value, written in
    YAML's flow style (which JSON is); every other line stays as it was.
    """
    lines = config.read_text(encoding="utf-8").splitlines(keepends=True)
    section = section_lines(lines, name)
    for key, value in changes.items():
        (index,) = [index for index in section if lines[index].startswith(f"  {key}:")]
        lines[index] = f"  {key}: {json.dumps(value)}\n"
    config.write_text("".join(lines), encoding="utf-8")


def user_runs(project: Project, *arguments: str) -> subprocess.CompletedProcess[str]:
    """Run the console script as a user would: it must succeed without a traceback."""
    completed = project.cli(*arguments)
    assert "Traceback" not in completed.stderr, completed.stderr
    return completed


def printed_metric(output: str, name: str) -> str:
    """Return the value of metric ``name`` as ``train`` or ``evaluate`` prints it."""
    found = re.search(rf"\b{name}[=:] ?([0-9.]+)", output)
    assert found, f"no {name} in:\n{output}"
    return found.group(1)


def test_own_table_trains_promotes_evaluates_predicts_and_gets_its_own_card(
    own_copy: Project,
) -> None:
    slug = own_copy.slug
    config = own_copy.path / "config.yaml"
    settings_before = yaml.safe_load(config.read_text(encoding="utf-8"))

    demo = user_runs(own_copy, "train")
    assert "Registered version 1; no champion yet" in demo.stdout
    rows = write_customer_table(own_copy.path / TABLE)
    edit_section(config, "data", OWN_DATA)
    edit_section(config, "fairness", OWN_AUDIT)
    settings = yaml.safe_load(config.read_text(encoding="utf-8"))
    assert settings == {
        **settings_before,
        "data": {**settings_before["data"], **OWN_DATA},
        "fairness": {**settings_before["fairness"], **OWN_AUDIT},
    }

    trained = user_runs(own_copy, "train")
    promote_lines = [
        line
        for line in trained.stdout.splitlines()
        if re.search(rf"\b{re.escape(slug)} promote \d+$", line)
    ]
    assert len(promote_lines) == 1, trained.stdout
    new_version = promote_lines[0].rsplit(" ", 1)[1]

    promoted = user_runs(own_copy, "promote", new_version)
    evaluated = user_runs(own_copy, "evaluate")
    predicted = user_runs(
        own_copy, "predict", TABLE, "--output", "predictions.csv", "--keep", ID_COLUMN
    )
    card = user_runs(own_copy, "model-card")

    # Where promote says the alias was is where train left it.
    moved = f"Moved @champion to version {new_version} (was version 1)."
    assert moved in promoted.stdout
    assert printed_metric(evaluated.stdout, "accuracy") == printed_metric(
        trained.stdout, "accuracy"
    )
    assert f"Wrote {ROWS} predictions to predictions.csv" in predicted.stdout
    written = own_copy.read_text("predictions.csv").splitlines()
    predictions = list(csv.DictReader(written))
    assert list(predictions[0]) == [ID_COLUMN, "prediction"]
    assert [row[ID_COLUMN] for row in predictions] == [row[ID_COLUMN] for row in rows]
    assert {row["prediction"] for row in predictions} <= set(LABELS)
    assert f"version {new_version}" in card.stdout
    card_text = own_copy.read_text("docs/model_card.md")
    demo_lines = [
        line
        for line in card_text.splitlines()
        if any(word in line.lower() for word in DEMO_WORDS)
    ]
    assert demo_lines == []
    assert Path(TABLE).name in card_text
    assert "### Region" in card_text
