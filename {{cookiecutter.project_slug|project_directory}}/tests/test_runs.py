"""Saved runs, uploads, fail-fast requests, Ctrl-C and credential hygiene (no server).

A tracking server that is down is played by a port nothing listens on, and
one that never answers by a socket that accepts connections and never reads
them: the connections it holds count the requests sent.
"""

import os
import select
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import mlflow
import numpy as np
import pytest
from click.testing import Result
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
    RunInterruptedError,
    hide_credentials,
)
from {{ cookiecutter.package_name }}.model import TASK
from {{ cookiecutter.package_name }}.tracking import connection, runs
from {{ cookiecutter.package_name }}.workflows.train import (
    TrainingResult,
    upload,
)

from .conftest import (
    CONFIG_PATH,
    CONSOLE_SCRIPT,
    DEMO_DATA,
    PACKAGE_NAME,
    SCRIPT_NAME,
    assert_one_line_error,
    cli_env,
    free_port,
    invoke,
    with_tracking,
)

# Provenance as taken at training time, unlike any that uploading could take.
ORIGIN = {"git.commit": "0123abc", "git.dirty": "false", "seed": "42"}


@contextmanager
def silent_server() -> Iterator[socket.socket]:
    """A listening socket that accepts connections and never answers them."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        yield silent


def url_of(server: socket.socket) -> str:
    """The tracking URI of ``server``."""
    return f"http://127.0.0.1:{server.getsockname()[1]}"


def connections_to(server: socket.socket) -> int:
    """Count, and close, the connections made to ``server`` so far."""
    server.setblocking(False)
    count = 0
    while True:
        try:
            connection_, _ = server.accept()
        except BlockingIOError:
            return count
        connection_.close()
        count += 1


def wait_for_connection(server: socket.socket) -> None:
    """Wait until a client connects to ``server``; leave the connection waiting."""
    ready, _, _ = select.select([server], [], [], 120)
    assert ready, "no connection within two minutes"


def file_contents(directory: Path) -> dict[Path, bytes]:
    """Every file under ``directory`` with its bytes."""
    return {path: path.read_bytes() for path in directory.rglob("*") if path.is_file()}


def assert_nothing_trained(result: Result, saved_runs: Path) -> None:
    """Nothing was fitted, and no run saved."""
    assert "Fitting" not in result.stderr
    assert not saved_runs.exists()


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


def test_a_logged_run_keeps_only_its_manifest_and_mark(
    tracked_settings: Settings, trained: TrainingResult
) -> None:
    (path,) = (
        path
        for path in tracked_settings.tracking.saved_runs.iterdir()
        if (runs.logged_as(path) or {}).get("run_id") == trained.run_id
    )

    assert sorted(child.name for child in path.iterdir()) == [
        runs.LOGGED_FILE,
        runs.MANIFEST,
    ]


def test_train_against_a_refused_port_fails_before_fitting(tmp_path: Path) -> None:
    uri = f"http://127.0.0.1:{free_port()}"

    result = invoke(["train"], cli_env(uri, tmp_path / "runs"))

    assert_one_line_error(result, f"cannot reach the MLflow tracking server at {uri}")
    assert_nothing_trained(result, tmp_path / "runs")


def test_a_silent_server_gets_one_request_without_retries(tmp_path: Path) -> None:
    limits = {"tracking__request_timeout": "1", "tracking__request_retries": "2"}
    output = tmp_path / "predictions.csv"
    with silent_server() as silent:
        uri = url_of(silent)
        env = cli_env(uri, tmp_path / "runs", **limits)
        trained = invoke(["train"], env)
        train_requests = connections_to(silent)
        predicted = invoke(["predict", str(DEMO_DATA), "-o", str(output)], env)
        predict_requests = connections_to(silent)

    for result in (trained, predicted):
        assert_one_line_error(
            result, f"cannot reach the MLflow tracking server at {uri}"
        )
    assert (train_requests, predict_requests) == (1, 1)
    assert_nothing_trained(trained, tmp_path / "runs")
    assert not output.exists()


def test_offline_training_contacts_no_server_and_is_uploaded_once(
    tracking_uri: str, tmp_path: Path
) -> None:
    saved_runs = tmp_path / "runs"
    with silent_server() as silent:
        offline = invoke(["train", "--offline"], cli_env(url_of(silent), saved_runs))
        requests = connections_to(silent)
    (run,) = saved_runs.iterdir()
    model_name = f"offline-{uuid.uuid4().hex[:8]}"
    env = cli_env(tracking_uri, saved_runs, tracking__registered_model=model_name)

    uploaded = invoke(["upload", str(run)], env)
    uploaded_again = invoke(["upload", str(run)], env)

    assert offline.exit_code == 0, offline.output
    assert requests == 0
    assert offline.stdout.strip().endswith(f"{SCRIPT_NAME} upload {run}")
    assert uploaded.exit_code == 0, uploaded.output
    assert "Registered version 1; no champion yet" in uploaded.stdout
    logged = runs.logged_as(run)
    assert logged is not None
    assert sorted(child.name for child in run.iterdir()) == [
        runs.LOGGED_FILE,
        runs.MANIFEST,
    ]
    assert_one_line_error(uploaded_again, f"already logged as run {logged['run_id']}")


@pytest.mark.parametrize(
    "command", [["train"], ["train", "--offline"], ["upload", "."]]
)
def test_a_bad_config_fails_before_mlflow_or_sklearn_is_imported(
    command: list[str], tmp_path: Path
) -> None:
    args = [*command, "--config", str(tmp_path / "absent.yaml")]
    script = (
        "import sys, click\n"
        f"from {PACKAGE_NAME}.cli import cli\n"
        "try:\n"
        f"    cli({args!r}, standalone_mode=False)\n"
        "except click.ClickException as error:\n"
        "    print(error.format_message())\n"
        "print(*sorted(name for name in sys.modules if '.' not in name))\n"
    )

    completed = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )

    message, modules = completed.stdout.splitlines()[-2:]
    assert message.startswith("config file not found")
    assert {"mlflow", "sklearn"}.isdisjoint(modules.split())


def test_an_interrupted_run_is_ended_as_killed(tracked_settings: Settings) -> None:
    connection.connect(tracked_settings.tracking)
    mlflow.set_experiment(tracked_settings.tracking.experiment)

    with pytest.raises(KeyboardInterrupt), connection.started_run() as run:
        raise KeyboardInterrupt

    assert mlflow.active_run() is None
    assert MlflowClient().get_run(run.info.run_id).info.status == "KILLED"


def test_ctrl_c_with_a_saved_run_says_how_to_upload_it(tmp_path: Path) -> None:
    config = TrackingConfig(experiment="e", registered_model="m")
    hint = f"`{SCRIPT_NAME} upload {tmp_path}`"

    with (
        pytest.raises(RunInterruptedError, match=hint),
        connection.reported_failures(config, tmp_path),
    ):
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt), connection.reported_failures(config):
        raise KeyboardInterrupt


def test_ctrl_c_during_upload_leaves_the_saved_run_as_it_was(
    tracked_settings: Settings, fitted_pipeline: Pipeline, split: Split
) -> None:
    saved = runs.save_run(tracked_settings, fitted_pipeline, {}, split, ORIGIN)
    before = file_contents(saved.path)
    with silent_server() as silent:
        env = cli_env(
            url_of(silent), saved.path.parent, tracking__request_timeout="600"
        )
        upload_ = subprocess.Popen(
            [str(CONSOLE_SCRIPT), "upload", str(saved.path)],
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_for_connection(silent)
        upload_.send_signal(signal.SIGINT)
        _, stderr = upload_.communicate(timeout=60)

    assert upload_.returncode == 128 + signal.SIGINT, stderr
    last = stderr.strip().splitlines()[-1]
    assert last == (
        "Interrupted: the run was not completely logged; the trained model is"
        f" saved in {saved.path}: log it later with `{SCRIPT_NAME} upload {saved.path}`"
    )
    assert "Traceback" not in stderr
    assert file_contents(saved.path) == before
