"""Tuning: reproducible searches of the training rows, logged as nested runs.

Searches here are small (3 trials of 3 folds over few boosting iterations) to
stay fast; what they check does not depend on their size.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from {{ cookiecutter.package_name }}.cli.group import (
    INTERRUPTED_EXIT_STATUS,
    ProjectGroup,
)
from {{ cookiecutter.package_name }}.cli.tune import tune as tune_command
from {{ cookiecutter.package_name }}.config import (
    ModelConfig,
    SearchRange,
    Settings,
    load_config,
)
from {{ cookiecutter.package_name }}.data import (
    Dataset,
    Split,
    load_dataset,
)
from {{ cookiecutter.package_name }}.errors import ConfigError
from {{ cookiecutter.package_name }}.model import TASK
from {{ cookiecutter.package_name }}.tracking import provenance
from {{ cookiecutter.package_name }}.tracking.connection import RUN_KIND_TAG
from {{ cookiecutter.package_name }}.workflows.tune import (
    RUN_KIND,
    TRIAL_RUN_KIND,
    TRIAL_TAG,
    TuningResult,
    tune,
)
from {{ cookiecutter.package_name }}.workflows.tune import (
    logger as tune_logger,
)

from .conftest import (
    CONFIG_PATH,
    DEMO_DATA,
    assert_one_line_error,
    cli_env,
    free_port,
)
from .test_model_values import yaml_mapping

TRIALS = 3
SEARCH_SPACE = {
    "learning_rate": SearchRange(low=0.05, high=0.3, log=True),
    "max_iter": SearchRange(low=10, high=40, log=True),
    "max_leaf_nodes": SearchRange(low=4, high=15),
}
SEARCH_SPACE_YAML = (
    "tuning:\n"
    "  trials: 30\n"
    "  folds: 3\n"
    "  search_space:\n"
    "    learning_rate: {low: 0.05, high: 0.3, log: true}\n"
    "    max_iter: {low: 10, high: 40, log: true}\n"
    "    max_leaf_nodes: {low: 4, high: 15}\n"
)
CV_MEAN = f"cv.{TASK.PRIMARY_METRIC}.mean"
CONTEXT_TAG = "mlflow.data.context"


def run_tune(args: list[str], env: dict[str, str]) -> Result:
    """Run ``tune`` under the project's command group: errors in one line."""
    group = ProjectGroup(commands=[tune_command])
    return CliRunner().invoke(group, ["tune", *args], env=env, catch_exceptions=False)


def quick_config(directory: Path) -> Path:
    """Write the shipped configuration with a small search, in ``directory``."""
    shipped = CONFIG_PATH.read_text(encoding="utf-8")
    text, replaced = re.subn(
        r"^tuning:.*\n(?:  .*\n)+", SEARCH_SPACE_YAML, shipped, flags=re.MULTILINE
    )
    assert replaced == 1
    path = directory / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def quick_settings(tracked_settings: Settings) -> Settings:
    """The tracked configuration with a small search of 3 folds."""
    update = {"folds": 3, "trials": TRIALS, "search_space": SEARCH_SPACE}
    tuning = tracked_settings.tuning.model_copy(update=update)
    return tracked_settings.model_copy(update={"tuning": tuning})


@pytest.fixture(scope="module")
def searches(quick_settings: Settings) -> tuple[TuningResult, TuningResult]:
    """Two searches with the same configuration and seed."""
    return tune(quick_settings), tune(quick_settings)


def client_of(settings: Settings) -> MlflowClient:
    """Return a client of the tracking store of ``settings``."""
    return MlflowClient(tracking_uri=settings.tracking.uri)


def trial_runs(settings: Settings, parent_run_id: str) -> list[Run]:
    """Return the nested runs of the tuning run ``parent_run_id``, in trial order."""
    client = client_of(settings)
    experiment = client.get_experiment_by_name(settings.tracking.experiment)
    assert experiment is not None
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}'",
    )
    return sorted(runs, key=lambda run: int(run.data.tags[TRIAL_TAG]))


def trial_scores(settings: Settings, parent_run_id: str) -> list[float]:
    """Return the cross-validated score of each trial of ``parent_run_id``."""
    return [run.data.metrics[CV_MEAN] for run in trial_runs(settings, parent_run_id)]


def test_the_same_seed_gives_the_same_trials_and_best_values(
    quick_settings: Settings, searches: tuple[TuningResult, TuningResult]
) -> None:
    first, second = searches

    first_params = [
        run.data.params for run in trial_runs(quick_settings, first.parent_run_id)
    ]
    second_params = [
        run.data.params for run in trial_runs(quick_settings, second.parent_run_id)
    ]

    assert first.parent_run_id != second.parent_run_id
    assert first.best_params == second.best_params
    assert first.best_score == second.best_score
    assert first_params == second_params
    assert trial_scores(quick_settings, first.parent_run_id) == trial_scores(
        quick_settings, second.parent_run_id
    )


def test_every_trial_is_a_nested_run_of_one_tuning_run(
    quick_settings: Settings, searches: tuple[TuningResult, TuningResult]
) -> None:
    result = searches[0]

    trials = trial_runs(quick_settings, result.parent_run_id)
    parent = client_of(quick_settings).get_run(result.parent_run_id)

    assert result.trials == len(trials) == TRIALS
    assert [run.data.tags[RUN_KIND_TAG] for run in trials] == [TRIAL_RUN_KIND] * TRIALS
    assert parent.data.tags[RUN_KIND_TAG] == RUN_KIND
    assert parent.data.tags["tuning.interrupted"] == "false"
    for name, value in result.best_params.items():
        assert parent.data.params[f"best.{name}"] == str(value)


def test_the_best_values_are_the_best_trial_s_and_within_bounds(
    quick_settings: Settings, searches: tuple[TuningResult, TuningResult]
) -> None:
    result = searches[0]
    best_of = max if TASK.GREATER_IS_BETTER else min

    scores = trial_scores(quick_settings, result.parent_run_id)

    assert result.best_score == best_of(scores)
    assert result.best_score > 0  # in the metric's own sign, errors included
    assert list(result.best_params) == list(SEARCH_SPACE)
    for name, value in result.best_params.items():
        bounds = SEARCH_SPACE[name]
        assert bounds.low <= value <= bounds.high
        whole = ModelConfig.model_fields[name].annotation is int
        assert isinstance(value, int) == whole, name


def test_the_search_sees_the_training_rows_only(
    quick_settings: Settings,
    split: Split,
    searches: tuple[TuningResult, TuningResult],
) -> None:
    name = quick_settings.data.path.name
    whole_file = load_dataset(quick_settings.data)

    def digest(rows: Dataset) -> str:
        return provenance.as_mlflow_dataset(quick_settings, rows, name).digest

    parent = client_of(quick_settings).get_run(searches[0].parent_run_id)
    assert parent.inputs is not None
    inputs = parent.inputs.dataset_inputs

    assert len(inputs) == 1
    assert [tag.value for tag in inputs[0].tags if tag.key == CONTEXT_TAG] == ["tuning"]
    assert inputs[0].dataset.digest == digest(split.train)
    assert inputs[0].dataset.digest not in {digest(split.test), digest(whole_file)}
    assert parent.data.tags["data.tuning_digest"] == digest(split.train)


def test_write_changes_only_the_searched_model_values(
    tracking_uri: str, tmp_path: Path
) -> None:
    config_path = quick_config(tmp_path)
    before = config_path.read_text(encoding="utf-8").splitlines()
    env = cli_env(tracking_uri, tmp_path / "runs", data__path=str(DEMO_DATA))

    result = run_tune(["--config", str(config_path), "--trials", "2", "--write"], env)

    assert result.exit_code == 0, result.output
    after = config_path.read_text(encoding="utf-8").splitlines()
    changed = [old for old, new in zip(before, after, strict=True) if old != new]
    assert [line.split(":")[0].strip() for line in changed] == list(SEARCH_SPACE)
    run_id = re.search(r"logged as run (\w+)", result.output)
    assert run_id is not None
    best = MlflowClient(tracking_uri).get_run(run_id[1]).data.params
    model = load_config(config_path).model
    for name in SEARCH_SPACE:
        assert str(getattr(model, name)) == best[f"best.{name}"]


def test_without_write_the_best_values_are_printed_and_the_file_is_kept(
    tracking_uri: str, tmp_path: Path
) -> None:
    config_path = quick_config(tmp_path)
    before = config_path.read_bytes()
    env = cli_env(tracking_uri, tmp_path / "runs", data__path=str(DEMO_DATA))

    result = run_tune(["--config", str(config_path), "--trials", "1"], env)

    assert result.exit_code == 0, result.output
    assert config_path.read_bytes() == before
    printed = result.stdout[result.stdout.index("model:\n") :]
    assert list(yaml_mapping(printed)["model"]) == list(SEARCH_SPACE)


class CtrlCAtTrial(logging.Handler):
    """Interrupt the search as Ctrl-C does, when it reports trial ``number``."""

    def __init__(self, number: int) -> None:
        super().__init__()
        self.report = f"Trial {number} of"

    def emit(self, record: logging.LogRecord) -> None:
        """Raise ``KeyboardInterrupt`` where the report of the trial is logged."""
        if record.getMessage().startswith(self.report):
            raise KeyboardInterrupt


def test_ctrl_c_keeps_the_completed_trials_and_prints_the_best(
    tracking_uri: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config_path = quick_config(tmp_path)
    before = config_path.read_bytes()
    env = cli_env(tracking_uri, tmp_path / "runs", data__path=str(DEMO_DATA))
    caplog.set_level(logging.INFO, logger=tune_logger.name)
    interrupt = CtrlCAtTrial(2)
    tune_logger.addHandler(interrupt)
    try:
        result = run_tune(["--config", str(config_path), "--write"], env)
    finally:
        tune_logger.removeHandler(interrupt)

    assert result.exit_code == INTERRUPTED_EXIT_STATUS, result.output
    assert result.stderr.strip().splitlines()[-1] == (
        "Interrupted: the best values of the completed trials are above, not written"
    )
    assert list(yaml_mapping(result.stdout.split("\n", 1)[1])["model"]) == list(
        SEARCH_SPACE
    )
    assert config_path.read_bytes() == before
    run_id = re.search(r"of 1 completed trial, logged as run (\w+)", result.stdout)
    assert run_id is not None
    parent = MlflowClient(tracking_uri).get_run(run_id[1])
    assert parent.data.tags["tuning.interrupted"] == "true"
    assert parent.data.tags["tuning.completed_trials"] == "1"


def test_write_refuses_an_unwritable_config_before_any_trial(tmp_path: Path) -> None:
    config_path = quick_config(tmp_path)
    text = config_path.read_text(encoding="utf-8")
    text = text.replace("  learning_rate: 0.1\n", "  learning_rate: '0.1'\n")
    config_path.write_text(text, encoding="utf-8")
    # A refused port: had the command reached tracking, it would fail there.
    env = cli_env(f"http://127.0.0.1:{free_port()}", tmp_path / "runs")

    result = run_tune(["--config", str(config_path), "--write"], env)

    assert_one_line_error(result, "cannot write model.learning_rate into")
    assert config_path.read_text(encoding="utf-8") == text


def test_an_unreachable_tracking_server_fails_in_one_line(tmp_path: Path) -> None:
    uri = f"http://127.0.0.1:{free_port()}"

    result = run_tune(["--trials", "1"], cli_env(uri, tmp_path / "runs"))

    assert_one_line_error(result, f"cannot reach the MLflow tracking server at {uri}")


@pytest.mark.parametrize(
    "args", [["--trials", "0"], ["--timeout", "0"], ["--trials", "many"]]
)
def test_bad_option_values_are_usage_errors(args: list[str], tmp_path: Path) -> None:
    env = cli_env(f"http://127.0.0.1:{free_port()}", tmp_path / "runs")

    result = run_tune(args, env)

    assert result.exit_code == 2
    assert f"Invalid value for '{args[0]}'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("update", "message"),
    [
        ({"search_space": {}}, "tuning.search_space is empty"),
        ({"folds": 10_000}, "tuning.folds is 10000, but there are only"),
    ],
)
def test_a_search_that_cannot_run_is_a_config_error(
    quick_settings: Settings, update: dict[str, object], message: str
) -> None:
    tuning = quick_settings.tuning.model_copy(update=update)
    settings = quick_settings.model_copy(update={"tuning": tuning})

    with pytest.raises(ConfigError, match=re.escape(message)):
        tune(settings)


def test_overrides_are_validated_like_the_config(quick_settings: Settings) -> None:
    with pytest.raises(ConfigError, match=r"tuning\.trials: "):
        tune(quick_settings, trials=0)
