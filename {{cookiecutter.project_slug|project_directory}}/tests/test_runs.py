"""Saved runs, uploads, fail-fast request limits and credential hygiene (no server)."""

from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from sklearn.pipeline import Pipeline

from {{ cookiecutter.package_name }}.config import (
    ENV_PREFIX,
    Settings,
    TrackingConfig,
    load_config,
)
from {{ cookiecutter.package_name }}.data import Split
from {{ cookiecutter.package_name }}.errors import (
    ConfigError,
    ModelError,
    hide_credentials,
)
from {{ cookiecutter.package_name }}.model import TASK
from {{ cookiecutter.package_name }}.tracking import connection, runs
from {{ cookiecutter.package_name }}.workflows.train import (
    TrainingResult,
    upload,
)

from .conftest import CONFIG_PATH, with_tracking

# Provenance as taken at training time, unlike any that uploading could take.
ORIGIN = {"git.commit": "0123abc", "git.dirty": "false", "seed": "42"}


def test_hide_credentials_masks_user_and_password() -> None:
    text = "failed: http://alice:s3cret@mlflow.example.com/api and https://t@x.io"

    assert hide_credentials(text) == (
        "failed: http://***@mlflow.example.com/api and https://***@x.io"
    )
    assert hide_credentials("sqlite:///mlflow.db") == "sqlite:///mlflow.db"


def test_config_refuses_a_tracking_uri_with_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}TRACKING__URI", "http://alice:s3cret@host:5000")

    with pytest.raises(ConfigError, match="MLFLOW_TRACKING_PASSWORD") as caught:
        load_config(CONFIG_PATH)
    assert "s3cret" not in str(caught.value)


def test_connect_refuses_credentials_in_mlflow_tracking_uri(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://alice:s3cret@127.0.0.1:9")
    config = TrackingConfig(experiment="e", registered_model="m")

    with pytest.raises(ConfigError, match=r"http://\*\*\*@127\.0\.0\.1:9") as caught:
        connection.connect(config)
    assert "s3cret" not in str(caught.value)


def test_request_limits_config_then_environment_then_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = TrackingConfig(experiment="e", registered_model="m")
    configured = config.model_copy(update={"request_timeout": 9, "request_retries": 0})
    monkeypatch.delenv(connection.TIMEOUT_ENVVAR, raising=False)
    monkeypatch.delenv(connection.RETRIES_ENVVAR, raising=False)
    assert connection.request_limits(config) == (
        connection.DEFAULT_REQUEST_TIMEOUT,
        connection.DEFAULT_REQUEST_RETRIES,
    )
    monkeypatch.setenv(connection.TIMEOUT_ENVVAR, "20")
    monkeypatch.setenv(connection.RETRIES_ENVVAR, "2")
    assert connection.request_limits(config) == (20, 2)
    assert connection.request_limits(configured) == (9, 0)


def test_bad_request_limit_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(connection.TIMEOUT_ENVVAR, "soon")
    config = TrackingConfig(experiment="e", registered_model="m")

    with pytest.raises(ConfigError, match="MLFLOW_HTTP_REQUEST_TIMEOUT"):
        connection.request_limits(config)


def test_saved_run_round_trips(
    tracked_settings: Settings, fitted_pipeline: Pipeline, split: Split
) -> None:
    metrics = {"score": 0.5}

    saved = runs.save_run(tracked_settings, fitted_pipeline, metrics, split, ORIGIN)
    loaded = runs.load_run(saved.path, tracked_settings.tracking)

    assert loaded.settings == tracked_settings
    assert loaded.metrics == metrics
    assert loaded.provenance == ORIGIN
    np.testing.assert_array_equal(
        loaded.pipeline.predict(loaded.split.test.features),
        fitted_pipeline.predict(split.test.features),
    )
    assert list(loaded.split.train.features.columns) == list(
        split.train.features.columns
    )
    assert loaded.split.train.target.tolist() == split.train.target.tolist()
    assert runs.logged_as(saved.path) is None


def test_failed_save_leaves_nothing_behind(
    tracked_settings: Settings, fitted_pipeline: Pipeline, split: Split, tmp_path: Path
) -> None:
    tracking_config = tracked_settings.tracking.model_copy(
        update={"saved_runs": tmp_path}
    )
    settings = tracked_settings.model_copy(update={"tracking": tracking_config})
    too_few_columns = split.train.features.iloc[:, :1]
    broken = Split(split.train._replace(features=too_few_columns), split.test)

    with pytest.raises(ValueError, match="columns"):
        runs.save_run(settings, fitted_pipeline, {}, broken, ORIGIN)
    assert list(tmp_path.iterdir()) == []


def test_train_records_where_its_saved_run_was_logged(
    tracked_settings: Settings, trained: TrainingResult
) -> None:
    saved_runs = tracked_settings.tracking.saved_runs.iterdir()
    logged = [runs.logged_as(path) for path in saved_runs]

    assert {
        "run_id": trained.run_id,
        "model_version": trained.model_version,
        "tracking_uri": tracked_settings.tracking.uri,
    } in logged


def test_upload_logs_a_saved_run_once(
    tracked_settings: Settings, fitted_pipeline: Pipeline, split: Split
) -> None:
    settings = with_tracking(
        tracked_settings, str(tracked_settings.tracking.uri), "upload-test"
    )
    predictions = fitted_pipeline.predict(split.test.features)
    metrics = TASK.compute_metrics(split.test.target, predictions)
    saved = runs.save_run(settings, fitted_pipeline, metrics, split, ORIGIN)

    result = upload(settings, saved.path)

    assert result.promoted
    assert {name: result.metrics[name] for name in metrics} == metrics
    logged = MlflowClient().get_run(result.run_id).data
    assert logged.params["seed"] == "42"
    assert logged.tags["git.commit"] == ORIGIN["git.commit"]
    with pytest.raises(ModelError, match=f"already logged as run {result.run_id}"):
        upload(settings, saved.path)


def test_saved_run_with_a_damaged_manifest_is_refused(
    tracked_settings: Settings, fitted_pipeline: Pipeline, split: Split
) -> None:
    saved = runs.save_run(tracked_settings, fitted_pipeline, {}, split, ORIGIN)
    (saved.path / runs.MANIFEST).write_text('{"config": {}}', encoding="utf-8")

    with pytest.raises(ModelError, match="cannot read saved run"):
        runs.load_run(saved.path, tracked_settings.tracking)


def test_upload_of_a_directory_that_is_no_saved_run(
    tracked_settings: Settings, tmp_path: Path
) -> None:
    with pytest.raises(ModelError, match="is not a saved run"):
        upload(tracked_settings, tmp_path)
