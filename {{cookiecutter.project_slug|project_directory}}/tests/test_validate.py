"""The validate command: a table against the champion's data contract, end to end."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyRegressor

from {{ cookiecutter.package_name }}.config import ENV_PREFIX, Settings
from {{ cookiecutter.package_name }}.data.contract import Contract
from {{ cookiecutter.package_name }}.tracking.artifacts import model_contract

from .conftest import (
    DEMO_DATA,
    FINDINGS_EXIT_STATUS,
    assert_one_line_error,
    cli_env,
    invoke,
)


@pytest.fixture
def env(tracking_uri: str, champion_uri: str, tmp_path: Path) -> dict[str, str]:
    """Environment that points the CLI at the session's tracking store."""
    return cli_env(tracking_uri, tmp_path / "saved-runs")


@pytest.fixture
def contract(champion_uri: str, env: dict[str, str]) -> Contract:
    """The data contract stored with the session's champion."""
    mlflow.set_tracking_uri(env[f"{ENV_PREFIX}TRACKING__URI"])
    found = model_contract(champion_uri)
    assert found is not None
    return found


@pytest.fixture
def complete_rows() -> pd.DataFrame:
    """Twenty demo rows without a missing value: they keep the contract."""
    return pd.read_csv(DEMO_DATA).dropna().head(20).reset_index(drop=True)


@pytest.fixture
def broken_file(tmp_path: Path, complete_rows: pd.DataFrame) -> Path:
    """The complete rows with one break of each row rule, and a column gone."""
    rows = complete_rows.astype({"bill_depth_mm": object})
    rows.loc[0, "bill_length_mm"] = 500.0
    rows.loc[1, "island"] = "Atlantis"
    rows.loc[2, "bill_depth_mm"] = "deep"
    path = tmp_path / "broken.csv"
    rows.drop(columns="flipper_length_mm").to_csv(path, index=False)
    return path


def test_labelled_demo_rows_keep_the_contract(
    tmp_path: Path, env: dict[str, str], settings: Settings, champion_uri: str
) -> None:
    demo = pd.read_csv(DEMO_DATA)
    labelled = demo[demo[settings.data.target].notna()]
    path = tmp_path / "labelled.parquet"
    labelled.to_parquet(path, index=False)

    result = invoke(["validate", str(path), "--chunk-size", "50"], env)

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"Checked {len(labelled)} rows against the data contract of"
        f" {champion_uri}: it holds."
    ]


def test_broken_rules_are_one_line_each_and_exit_3(
    broken_file: Path, env: dict[str, str], contract: Contract, champion_uri: str
) -> None:
    bill = contract.column("bill_length_mm")
    islands = ", ".join(contract.column("island").categories or ())

    result = invoke(["validate", str(broken_file)], env)

    assert result.exit_code == FINDINGS_EXIT_STATUS, result.output
    assert result.stdout.splitlines() == [
        f"column 'bill_length_mm', rule range (from {bill.lower:.15g} to"
        f" {bill.upper:.15g}): 1 row, e.g. 500.0",
        "column 'bill_depth_mm', rule type (numbers): 1 row, e.g. 'deep'",
        "column 'flipper_length_mm', rule missing (a required column): 20 rows",
        f"column 'island', rule category (one of {islands}): 1 row, e.g. 'Atlantis'",
        f"Checked 20 rows against the data contract of {champion_uri}:"
        " 4 rule(s) broken, 20 row(s) breaking at least one.",
    ]


def test_json_format(broken_file: Path, env: dict[str, str], champion_uri: str) -> None:
    result = invoke(["validate", str(broken_file), "--format", "json"], env)

    assert result.exit_code == FINDINGS_EXIT_STATUS, result.output
    report = json.loads(result.stdout)
    assert (report["model"], report["rows"], report["broken_rows"]) == (
        champion_uri,
        20,
        20,
    )
    assert report["holds"] is False
    assert [
        (found["column"], found["rule"], found["hard"], found["rows"], found["example"])
        for found in report["breaks"]
    ] == [
        ("bill_length_mm", "range", False, 1, 500.0),
        ("bill_depth_mm", "type", True, 1, "deep"),
        ("flipper_length_mm", "missing", True, 20, None),
        ("island", "category", False, 1, "Atlantis"),
    ]


def test_json_format_of_a_table_that_holds(
    tmp_path: Path, env: dict[str, str], complete_rows: pd.DataFrame
) -> None:
    path = tmp_path / "complete.csv"
    complete_rows.to_csv(path, index=False)

    result = invoke(["validate", str(path), "--format", "json"], env)

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["rows"], report["broken_rows"], report["breaks"]) == (20, 0, [])


def test_a_model_without_contract_is_one_line(
    tmp_path: Path, env: dict[str, str], settings: Settings
) -> None:
    mlflow.set_tracking_uri(env[f"{ENV_PREFIX}TRACKING__URI"])
    mlflow.set_experiment(settings.tracking.experiment)
    model = DummyRegressor().fit(np.zeros((2, 1)), [0.0, 1.0])
    with mlflow.start_run() as run:
        mlflow.sklearn.log_model(model, name="model", pip_requirements=["scikit-learn"])
    path = tmp_path / "rows.csv"
    path.write_text("x\n1\n", encoding="utf-8")

    result = invoke(
        ["validate", str(path), "--model", f"runs:/{run.info.run_id}/model"], env
    )

    assert_one_line_error(result, "has no data contract")
    assert "train it again" in result.stderr


def test_a_missing_file_is_one_line(tmp_path: Path, env: dict[str, str]) -> None:
    result = invoke(["validate", str(tmp_path / "absent.csv")], env)

    assert_one_line_error(result, f"data file not found: {tmp_path / 'absent.csv'}")
