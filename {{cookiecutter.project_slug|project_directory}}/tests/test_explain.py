"""The ``explain`` command on the session's champion: importance, one row, errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner, Result
from sklearn.pipeline import Pipeline

from {{ cookiecutter.package_name }}.cli.explain import NO_HELP_MARK, explain
from {{ cookiecutter.package_name }}.cli.group import ProjectGroup
from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.data import Split
from {{ cookiecutter.package_name }}.evaluation.importance import (
    feature_importance,
)
from {{ cookiecutter.package_name }}.model import TASK

from .conftest import DEMO_DATA, assert_one_line_error, cli_env

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run_explain(args: list[str], env: dict[str, str]) -> Result:
    """Run ``explain ARGS`` in a group that reports errors as the CLI does."""
    group = ProjectGroup(commands=[explain])
    return CliRunner().invoke(
        group, ["explain", *args], env=env, catch_exceptions=False
    )


@pytest.fixture
def env(
    tracking_uri: str,
    champion_uri: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, str]:
    """Environment pointing at the session's champion, run from ``tmp_path``."""
    monkeypatch.chdir(tmp_path)
    return cli_env(tracking_uri, tmp_path / "saved-runs")


def test_explain_ranks_the_features_as_measured_and_writes_a_png(
    env: dict[str, str],
    tmp_path: Path,
    tracked_settings: Settings,
    fitted_pipeline: Pipeline,
    split: Split,
) -> None:
    result = run_explain([], env)

    assert result.exit_code == 0, result.output
    expected = feature_importance(
        fitted_pipeline,
        split.test,
        tracked_settings.evaluation.importance_repeats,
        tracked_settings.seed,
    )
    lines = result.stdout.splitlines()
    rows = lines[2 : 2 + len(expected.table)]
    assert [line.split()[0] for line in rows] == list(expected.table["feature"])
    marked = [line.split()[0] for line in rows if line.endswith(NO_HELP_MARK)]
    assert marked == expected.unimportant()
    assert lines[-1] == "Wrote feature_importance.png"
    assert (tmp_path / "feature_importance.png").read_bytes().startswith(PNG_SIGNATURE)


def test_explain_row_shows_the_prediction_and_each_contribution(
    env: dict[str, str],
    tmp_path: Path,
    fitted_pipeline: Pipeline,
    split: Split,
) -> None:
    output = tmp_path / "penguin.png"

    result = run_explain(["--row", "3", "--output", str(output)], env)

    assert result.exit_code == 0, result.output
    predicted = fitted_pipeline.predict(split.test.features.iloc[[3]])[0]
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Row 3: ")
    shown = lines[0].rpartition(" predicts ")[2]
    if TASK.NAME == "regression":
        assert float(shown) == pytest.approx(predicted, rel=1e-5)
    else:
        assert shown == predicted
    listed = {line.split()[0] for line in lines[3:-1]}
    assert listed == set(split.test.features.columns)
    assert lines[-1] == f"Wrote {output}"
    assert output.read_bytes().startswith(PNG_SIGNATURE)


def test_explain_row_shows_a_missing_value_as_missing(
    env: dict[str, str], settings: Settings, demo_frame: pd.DataFrame
) -> None:
    labelled = demo_frame[demo_frame[settings.data.target].notna()]
    missing = labelled[settings.data.features].isna().to_numpy()
    row = int(missing.any(axis=1).argmax())
    column = settings.data.features[missing[row].argmax()]
    assert missing[row].any()

    result = run_explain(["--data", str(DEMO_DATA), "--row", str(row)], env)

    assert result.exit_code == 0, result.output
    (line,) = [line for line in result.stdout.splitlines() if line.startswith(column)]
    assert line.split()[1] == "(missing)"


def test_explain_row_writes_row_n_png_by_default(
    env: dict[str, str], tmp_path: Path
) -> None:
    result = run_explain(["--row", "0"], env)

    assert result.exit_code == 0, result.output
    assert (tmp_path / "row_0.png").read_bytes().startswith(PNG_SIGNATURE)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--row", "100000"], "row 100000 is out of range"),
        (["--model", "models:/no-such-model@champion"], "cannot load model"),
        (["--output", "importance.jpg"], "name a .png file"),
        (["--output", "no/such/dir/importance.png"], "output directory does not exist"),
        (["--data", "missing.csv"], "missing.csv"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    env: dict[str, str], tmp_path: Path, args: list[str], message: str
) -> None:
    result = run_explain(args, env)

    assert_one_line_error(result, message)
    assert list(tmp_path.rglob("*.png")) == []


def test_a_negative_row_is_a_usage_error(env: dict[str, str]) -> None:
    assert run_explain(["--row", "-1"], env).exit_code == 2
