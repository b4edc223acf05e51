"""Shared fixtures: the shipped configuration, one fitted pipeline, one MLflow store.

Expensive things (fitting, creating the tracking database, training a
registered champion) happen once per test session.
"""

from __future__ import annotations

import socket
import uuid
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from {{ cookiecutter.package_name }} import tracking
from {{ cookiecutter.package_name }}.config import (
    Settings,
    TrackingConfig,
    load_config,
)
from {{ cookiecutter.package_name }}.data import Split
from {{ cookiecutter.package_name }}.evaluation import holdout_split
from {{ cookiecutter.package_name }}.workflows import train

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CONFIG_PATH = PROJECT_ROOT / "config.yaml"
DEMO_DATA = PROJECT_ROOT / "data" / "penguins.csv"


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
    """The configuration shipped with the project."""
    return load_config(CONFIG_PATH)


@pytest.fixture(scope="session")
def demo_frame() -> pd.DataFrame:
    """The raw demo table, every column included."""
    return pd.read_csv(DEMO_DATA)


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
