"""The check-data command: train's data checks, and a summary of numbers only."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.config import ENV_PREFIX, Settings
from {{ cookiecutter.package_name }}.errors import DataError
from {{ cookiecutter.package_name }}.model import TASK
from {{ cookiecutter.package_name }}.workflows.check_data import (
    check_data,
    target_summary,
)

from .conftest import CONFIG_PATH, assert_one_line_error, invoke


def leaves(tree: object) -> list[object]:
    """Every value of ``tree`` that is not itself a mapping."""
    if isinstance(tree, dict):
        return [leaf for value in tree.values() for leaf in leaves(value)]
    return [tree]


def test_summary_counts_rows_features_and_missing_cells(
    settings: Settings, demo_frame: pd.DataFrame
) -> None:
    labelled = demo_frame[demo_frame[settings.data.target].notna()]

    summary = check_data(settings)

    assert summary["rows"] == len(labelled)
    assert summary["train_rows"] + summary["test_rows"] == len(labelled)
    assert summary["features"] == len(settings.data.features)
    expected = labelled[settings.data.features].isna().sum()
    assert summary["missing"] == expected.to_dict()


def test_target_summary_of_the_task(
    settings: Settings, demo_frame: pd.DataFrame
) -> None:
    target = demo_frame[settings.data.target].dropna()

    summary = target_summary(target)

    if TASK.stratify_by(target) is None:
        assert summary["mean"] == pytest.approx(target.mean())
        assert summary["std"] == pytest.approx(target.std())
        assert (summary["min"], summary["max"]) == (target.min(), target.max())
    else:
        assert summary == target.value_counts().to_dict()


def test_data_train_refuses_is_refused(settings: Settings, tmp_path: Path) -> None:
    table = tmp_path / "no-features.csv"
    table.write_text(f"{settings.data.target},other\n1,2\n", encoding="utf-8")
    data = settings.data.model_copy(update={"path": table})

    with pytest.raises(DataError, match="missing column"):
        check_data(settings.model_copy(update={"data": data}))


def test_command_writes_the_summary_as_json_of_numbers(tmp_path: Path) -> None:
    output = tmp_path / "reports" / "data.json"  # its directory is created
    env = {f"{ENV_PREFIX}CONFIG": str(CONFIG_PATH)}

    result = invoke(["check-data", "--output", str(output)], env)

    assert result.exit_code == 0, result.output
    written = json.loads(output.read_text(encoding="utf-8"))
    assert written["rows"] > 0
    assert all(isinstance(leaf, int | float) for leaf in leaves(written))
    assert f"Wrote {output}" in result.stdout
    assert not list(output.parent.glob(".*"))  # no temporary file left


def test_command_fails_on_bad_data_in_one_line_and_writes_nothing(
    tmp_path: Path,
) -> None:
    table = tmp_path / "bad.csv"
    table.write_text("a,b\n1,2\n", encoding="utf-8")
    output = tmp_path / "data.json"
    env = {
        f"{ENV_PREFIX}CONFIG": str(CONFIG_PATH),
        f"{ENV_PREFIX}DATA__PATH": str(table),
    }

    result = invoke(["check-data", "--output", str(output)], env)

    assert_one_line_error(result, "missing column")
    assert not output.exists()


def test_command_refuses_to_replace_the_data(tmp_path: Path) -> None:
    table = tmp_path / "data.csv"
    table.write_bytes(b"kept")
    env = {
        f"{ENV_PREFIX}CONFIG": str(CONFIG_PATH),
        f"{ENV_PREFIX}DATA__PATH": str(table),
    }

    result = invoke(["check-data", "--output", str(table)], env)

    assert_one_line_error(result, "is an input of this command")
    assert table.read_bytes() == b"kept"
