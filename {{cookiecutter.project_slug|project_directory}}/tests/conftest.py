"""Shared fixtures: the shipped configuration, one fitted pipeline, one MLflow store.

Expensive things (fitting, creating the tracking database, training a
registered champion) happen once per test session.
"""

from __future__ import annotations

import logging
import re
import socket
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner, Result
from sklearn.pipeline import Pipeline

from {{ cookiecutter.package_name }} import tracking
from {{ cookiecutter.package_name }}.cli import cli
from {{ cookiecutter.package_name }}.config import (
    ENV_PREFIX,
    Settings,
    TrackingConfig,
    load_config,
)
from {{ cookiecutter.package_name }}.data import Split
from {{ cookiecutter.package_name }}.evaluation import holdout_split
from {{ cookiecutter.package_name }}.model import TASK
from {{ cookiecutter.package_name }}.tracking.connection import (
    RETRIES_ENVVAR,
    TIMEOUT_ENVVAR,
)
from {{ cookiecutter.package_name }}.workflows import train

PACKAGE_NAME = "{{ cookiecutter.package_name }}"
SCRIPT_NAME = "{{ cookiecutter.project_slug }}"
CONSOLE_SCRIPT = Path(sys.executable).with_name(SCRIPT_NAME)
PROJECT_ROOT = Path(__file__).resolve().parents[1]
CONFIG_PATH = PROJECT_ROOT / "config.yaml"
DEMO_DATA = PROJECT_ROOT / "data" / "penguins.csv"
FINDINGS_EXIT_STATUS = 3
"""The documented exit status of validate and monitor when they find something."""
OWN_TARGETS = {"classification": "Species Label", "regression": "Body Mass (g)"}
"""The target column of the made-up table for each task; the other is extra."""
BOOSTING_ROUNDS = 50
"""Boosting rounds of the tests' models (the shipped config: 100).

Saving, loading and scoring a model take time in proportion to its trees,
and the tests find in the demo data what they find with 100.
"""
IMPORTANCE_REPEATS = 2
"""Shuffles of each feature in the tests' training runs (the shipped config: 10).

Permutation importance is the largest part of a training run on the demo
data, and two shuffles already tell a feature that helps from noise.
"""
LIGHT_TRAINING = {
    f"{ENV_PREFIX}MODEL__MAX_ITER": str(BOOSTING_ROUNDS),
    f"{ENV_PREFIX}EVALUATION__IMPORTANCE_REPEATS": str(IMPORTANCE_REPEATS),
}
"""The environment giving the CLI the tests' lighter training runs."""


def cli_env(uri: str, saved_runs: Path, **overrides: str) -> dict[str, str]:
    """Environment pointing the CLI at ``uri``, saving runs under ``saved_runs``."""
    return {
        **LIGHT_TRAINING,
        f"{ENV_PREFIX}CONFIG": str(CONFIG_PATH),
        f"{ENV_PREFIX}TRACKING__URI": uri,
        f"{ENV_PREFIX}TRACKING__SAVED_RUNS": str(saved_runs),
        **{f"{ENV_PREFIX}{key.upper()}": value for key, value in overrides.items()},
    }


def invoke(args: list[str], env: dict[str, str]) -> Result:
    """Run the CLI with ``args`` in ``env``; exceptions other than exits propagate."""
    return CliRunner().invoke(cli, args, env=env, catch_exceptions=False)


def assert_one_line_error(result: Result, message: str) -> None:
    """The command failed with exit 1 and one ``Error:`` line, last, no traceback."""
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("Error: ")]
    assert errors == lines[-1:], result.stderr
    assert message in errors[0]
    assert "Traceback" not in result.stderr


def config_with_data(directory: Path, data_section: str) -> Path:
    """Write the shipped configuration with its ``data:`` section replaced.

    This is what a user bringing a table of their own does: edit ``data:``,
    and audit no demo column for fairness.
    """
    shipped = CONFIG_PATH.read_text(encoding="utf-8")
    text, replaced = re.subn(
        r"^data:\n(?:  .*\n)+", data_section, shipped, flags=re.MULTILINE
    )
    assert replaced == 1
    text, replaced = re.subn(
        r"^  sensitive_features: .*$", "  sensitive_features: []", text, flags=re.M
    )
    assert replaced == 1
    path = directory / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def own_data_section(table: Path) -> str:
    """The ``data:`` section for :func:`own_table`, with this task's target."""
    return (
        f"data:\n  path: {table}\n  target: {OWN_TARGETS[TASK.NAME]}\n"
        "  numeric_features: [Bill Length]\n"
        "  categorical_features: [Home Island]\n"
        "  test_size: 0.25\n"
    )


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def with_tracking(
    settings: Settings, uri: str, model_name: str | None = None
) -> Settings:
    """Return ``settings`` tracking to ``uri``, optionally under another model name."""
    name = model_name or settings.tracking.registered_model
    tracking = settings.tracking.model_copy(
        update={"uri": uri, "registered_model": name}
    )
    return settings.model_copy(update={"tracking": tracking})


@pytest.fixture(scope="session")
def settings() -> Settings:
    """The shipped configuration, with the tests' lighter training runs.

    :data:`BOOSTING_ROUNDS` and :data:`IMPORTANCE_REPEATS` replace their
    shipped values.
    """
    shipped = load_config(CONFIG_PATH)
    model = shipped.model.model_copy(update={"max_iter": BOOSTING_ROUNDS})
    update = {"importance_repeats": IMPORTANCE_REPEATS}
    evaluation = shipped.evaluation.model_copy(update=update)
    return shipped.model_copy(update={"model": model, "evaluation": evaluation})


@pytest.fixture(autouse=True)
def _restore_tracking(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Undo what connecting changes process-wide: the tracking URI and limits.

    Every test starts without request limits in the environment, and any it
    sets, like the tracking URI, are gone after it.
    """
    for name in (TIMEOUT_ENVVAR, RETRIES_ENVVAR):
        # Set first, so that the teardown restores the value from before.
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    before = mlflow.get_tracking_uri()
    yield
    mlflow.set_tracking_uri(before)


@pytest.fixture(autouse=True)
def _restore_package_log_level() -> Iterator[None]:
    """Undo the level that the CLI (``-q``, ``-v``) sets on the package's logger."""
    logger = logging.getLogger(PACKAGE_NAME)
    level = logger.level
    yield
    logger.setLevel(level)


@pytest.fixture(scope="session")
def demo_frame() -> pd.DataFrame:
    """The raw demo table, every column included."""
    return pd.read_csv(DEMO_DATA)


@pytest.fixture
def train_on(tracking_uri: str, tmp_path: Path) -> Callable[[Path], Result]:
    """Run ``train`` from the command line on another data file.

    It tracks to the session's store under a registered model of its own,
    and saves runs under ``tmp_path``; the rest of the shipped configuration
    applies.
    """

    def run(data_path: Path) -> Result:
        env = {
            **LIGHT_TRAINING,
            f"{ENV_PREFIX}DATA__PATH": str(data_path),
            f"{ENV_PREFIX}TRACKING__URI": tracking_uri,
            f"{ENV_PREFIX}TRACKING__REGISTERED_MODEL": f"other-{uuid.uuid4().hex[:8]}",
            f"{ENV_PREFIX}TRACKING__SAVED_RUNS": str(tmp_path / "saved-runs"),
        }
        args = ["train", "--config", str(CONFIG_PATH)]
        return CliRunner().invoke(cli, args, env=env)

    return run


@pytest.fixture(scope="session")
def own_table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A made-up table unlike the demo's, as users bring them.

    Column names with spaces and mixed case, string labels, a categorical
    column whose values hold a slash and non-ASCII letters, missing values,
    and an extra column.
    """
    rng = np.random.default_rng(0)
    rows = 160
    bill = rng.normal(45.0, 5.0, rows)
    frame = pd.DataFrame(
        {
            "row id": np.arange(rows),
            "Bill Length": bill,
            "Home Island": rng.choice(["North Shore", "South/East", "Île Verte"], rows),
            "Species Label": np.where(bill > 45.0, "Great Auk", "little auk"),
            "Body Mass (g)": 90.0 * bill + rng.normal(0.0, 50.0, rows),
        }
    )
    frame.loc[::9, "Home Island"] = None
    frame.loc[::11, "Bill Length"] = np.nan
    path = tmp_path_factory.mktemp("own-data") / "My Auks.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def split(settings: Settings) -> Split:
    """The configured train/test split of the demo data."""
    return holdout_split(settings)


@pytest.fixture(scope="session")
def fitted_pipeline(settings: Settings, split: Split) -> Pipeline:
    """The configured pipeline fitted on the training rows."""
    return train.fit_pipeline(settings, split.train)


@pytest.fixture(scope="session")
def tracking_uri(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A throwaway SQLite tracking store whose artifacts stay in a temp dir."""
    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    artifacts = (root / "artifacts").as_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.create_experiment(settings.tracking.experiment, artifact_location=artifacts)
    return uri


@pytest.fixture(scope="session")
def tracked_settings(
    settings: Settings, tracking_uri: str, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    """The shipped configuration, tracking to the throwaway store."""
    tracked = with_tracking(settings, tracking_uri)
    saved_runs = tmp_path_factory.mktemp("saved-runs")
    tracking = tracked.tracking.model_copy(update={"saved_runs": saved_runs})
    return tracked.model_copy(update={"tracking": tracking})


@pytest.fixture(scope="session")
def trained(tracked_settings: Settings) -> train.TrainingResult:
    """The first training run of the session: registered and champion."""
    return train.train(tracked_settings)


@pytest.fixture(scope="session")
def champion_uri(tracked_settings: Settings, trained: train.TrainingResult) -> str:
    """URI of the champion model trained for this session."""
    return f"models:/{tracked_settings.tracking.registered_model}@champion"


@pytest.fixture
def registry(
    tracked_settings: Settings, trained: train.TrainingResult
) -> TrackingConfig:
    """A registered model of its own with three versions and no champion."""
    name = f"lifecycle-{uuid.uuid4().hex[:8]}"
    config = with_tracking(tracked_settings, str(tracked_settings.tracking.uri), name)
    client = tracking.connect(config.tracking)
    model_uri = f"runs:/{trained.run_id}/model"
    for _ in range(3):
        tracking.register(client, model_uri, name, trained.run_id)
    return config.tracking
