"""Against a real ``mlflow server`` on 127.0.0.1: the lifecycle, failures, credentials.

One server serves the whole session; the tests that kill a server or need
authentication start their own. Select them with ``-m server``, skip them
with ``-m "not server"``.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from {{ cookiecutter.package_name }}.config import ENV_PREFIX
from {{ cookiecutter.package_name }}.tracking.local_server import (
    RunningServer,
    tracking_server,
)
from {{ cookiecutter.package_name }}.tracking.runs import (
    LOGGED_FILE,
    MANIFEST,
    MODEL_DIR,
)

from .conftest import (
    CONSOLE_SCRIPT,
    DEMO_DATA,
    SCRIPT_NAME,
    cli_env,
    free_port,
    invoke,
)

pytestmark = pytest.mark.server


def sqlite_store(directory: Path) -> str:
    """Return the URI of the SQLite backend store in ``directory``."""
    return f"sqlite:///{directory / 'mlflow.db'}"


@contextmanager
def server_in(
    directory: Path, app_name: str | None = None, auth: dict[str, str] | None = None
) -> Iterator[RunningServer]:
    """Run a tracking server whose store, artifacts and log are in ``directory``."""
    with (
        (directory / "server.log").open("ab") as log,
        tracking_server(
            free_port(),
            sqlite_store(directory),
            directory / "artifacts",
            app_name=app_name,
            log_file=log,
            extra_environment=tuple((auth or {}).items()),
        ) as running,
    ):
        yield running


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One MLflow tracking server for the session, with a SQLite store."""
    with server_in(tmp_path_factory.mktemp("mlflow-server")) as running:
        yield running


def saved_runs_in(directory: Path) -> list[Path]:
    """Complete saved runs under ``directory`` (never a partial one)."""
    if not directory.is_dir():
        return []
    return sorted(path for path in directory.iterdir() if not path.name.startswith("."))


def assert_fails(output: str, exit_code: int, uri: str) -> str:
    """Exit 1 with one ``Error:`` line, the last, naming ``uri``; return the line."""
    lines = output.strip().splitlines()
    errors = [line for line in lines if line.startswith("Error: ")]
    assert exit_code == 1, output
    assert errors == lines[-1:], output
    assert "Traceback" not in output
    assert uri in errors[0]
    return errors[0]


def assert_saved_model(error: str, saved_runs: Path) -> Path:
    """The error names the one saved run, complete, and how to upload it."""
    (run,) = saved_runs_in(saved_runs)
    assert (run / MODEL_DIR / "MLmodel").is_file()
    assert (run / MANIFEST).is_file()
    assert f"{SCRIPT_NAME} upload {run}" in error
    return run


def test_lifecycle_train_gate_promote_predict_rollback(
    server: RunningServer, tmp_path: Path
) -> None:
    env = cli_env(server.url, tmp_path / "runs", tracking__registered_model="life")
    weak = {**env, f"{ENV_PREFIX}MODEL__MAX_ITER": "1"}
    client = MlflowClient(server.url)
    output = tmp_path / "predictions.csv"
    after_rollback = tmp_path / "after-rollback.csv"

    first = invoke(["train"], env)
    second = invoke(["train"], weak)
    predicted = invoke(["predict", str(DEMO_DATA), "--output", str(output)], env)
    promoted = invoke(["promote", "2"], env)
    promoted_to = client.get_model_version_by_alias("life", "champion").version
    rolled_back = invoke(["rollback"], env)
    invoke(["predict", str(DEMO_DATA), "--output", str(after_rollback)], env)

    assert "Registered version 1; no champion yet" in first.output
    assert "Registered version 2; champion kept" in second.output
    assert "Wrote 344 predictions" in predicted.output
    assert len(output.read_text().splitlines()) == 345
    assert (promoted.exit_code, promoted_to) == (0, "2")
    assert rolled_back.exit_code == 0
    champion = client.get_model_version_by_alias("life", "champion")
    assert champion.version == "1"
    assert after_rollback.read_text() == output.read_text()
    assert all(
        (run / LOGGED_FILE).is_file() for run in saved_runs_in(tmp_path / "runs")
    )


@contextmanager
def paused(server: RunningServer) -> Iterator[None]:
    """Stop ``server`` for the block: it accepts connections but never answers."""
    os.killpg(server.process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.killpg(server.process.pid, signal.SIGCONT)


def file_contents(directory: Path) -> dict[Path, bytes]:
    """Every file under ``directory`` with its bytes."""
    return {path: path.read_bytes() for path in directory.rglob("*") if path.is_file()}


def wait_for_saved_run(saved_runs: Path, timeout: float = 120) -> Path:
    """Wait until a complete saved run appears under ``saved_runs``; return it."""
    deadline = time.monotonic() + timeout
    while not saved_runs_in(saved_runs):
        assert time.monotonic() < deadline, f"no saved run in {saved_runs}"
        time.sleep(0.05)
    (run,) = saved_runs_in(saved_runs)
    return run


def test_ctrl_c_after_the_run_was_saved_says_how_to_upload_it(tmp_path: Path) -> None:
    saved_runs = tmp_path / "runs"
    with server_in(tmp_path) as stalling:
        # The server answers the check before fitting, then stops answering.
        env = cli_env(stalling.url, saved_runs, tracking__request_timeout="600")
        train = subprocess.Popen(
            [str(CONSOLE_SCRIPT), "train"],
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert train.stderr is not None
        fitting = next((line for line in train.stderr if "Fitting" in line), None)
        assert fitting is not None, "train stopped before fitting"
        with paused(stalling):
            run = wait_for_saved_run(saved_runs)
            files = file_contents(run)
            train.send_signal(signal.SIGINT)
            stdout, stderr = train.communicate(timeout=60)

    assert train.returncode == 128 + signal.SIGINT, stderr
    assert stderr.strip().splitlines()[-1] == (
        "Interrupted: the run was not completely logged; the trained model is saved"
        f" in {run}: log it later with `{SCRIPT_NAME} upload {run}`"
    )
    assert "Traceback" not in stderr
    assert "Registered version" not in stdout
    assert file_contents(run) == files
    assert not (run / LOGGED_FILE).exists()


def kill_when_saved(server: RunningServer, saved_runs: Path) -> threading.Thread:
    """Kill ``server`` the moment a complete saved run appears under ``saved_runs``."""

    def watch() -> None:
        while not saved_runs_in(saved_runs):
            time.sleep(0.005)
        os.killpg(server.process.pid, signal.SIGKILL)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    return watcher


def wait_for_text(path: Path, text: str, timeout: float = 120) -> None:
    """Wait until the file at ``path`` contains ``text``."""
    deadline = time.monotonic() + timeout
    while text not in path.read_text(encoding="utf-8", errors="replace"):
        assert time.monotonic() < deadline, path.read_text(encoding="utf-8")
        time.sleep(0.2)


def test_server_killed_during_train_then_upload_to_restarted_server(
    tmp_path: Path,
) -> None:
    saved_runs = tmp_path / "runs"
    with server_in(tmp_path) as doomed:
        env = {**os.environ, **cli_env(doomed.url, saved_runs)}
        watcher = kill_when_saved(doomed, saved_runs)
        train = subprocess.Popen(
            [str(CONSOLE_SCRIPT), "train"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        watcher.join(timeout=120)
        stdout, stderr = train.communicate(timeout=60)

    error = assert_fails(stderr, train.returncode, doomed.url)
    run = assert_saved_model(error, saved_runs)
    assert "Registered version" not in stdout
    # The same store, restarted through the CLI command, receives the saved run.
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    server_log = tmp_path / "restarted.log"
    with server_log.open("wb") as log:
        restarted = subprocess.Popen(
            [
                str(CONSOLE_SCRIPT),
                "tracking-server",
                "--port",
                str(port),
                "--backend-store-uri",
                sqlite_store(tmp_path),
                "--artifacts-dir",
                str(tmp_path / "artifacts"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_text(server_log, f"export MLFLOW_TRACKING_URI={uri}")
        uploaded = invoke(["upload", str(run)], cli_env(uri, saved_runs))
    finally:
        restarted.send_signal(signal.SIGTERM)
        stopped = restarted.wait(timeout=30)

    assert uploaded.exit_code == 0, uploaded.output
    assert "no champion yet, so it is the champion now" in uploaded.output
    assert (run / LOGGED_FILE).is_file()
    assert stopped == 0
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def write_auth_config(root: Path, password: str) -> Path:
    """An auth config: admin user with ``password``, users store under ``root``."""
    config = root / "basic_auth.ini"
    config.write_text(
        "[mlflow]\n"
        "default_permission = READ\n"
        f"database_uri = sqlite:///{root / 'users.db'}\n"
        "admin_username = admin\n"
        f"admin_password = {password}\n"
        "authorization_function ="
        " mlflow.server.auth:authenticate_request_basic_auth\n",
        encoding="utf-8",
    )
    return config


def files_containing(root: Path, text: str) -> list[Path]:
    """Every file under ``root`` whose bytes contain ``text``."""
    needle = text.encode()
    return [
        path
        for path in root.rglob("*")
        if path.is_file() and needle in path.read_bytes()
    ]


def test_credentials_from_the_environment_reach_the_server_and_nowhere_else(
    tmp_path: Path,
) -> None:
    password = f"pw-{secrets.token_hex(8)}"
    auth = {
        "MLFLOW_AUTH_CONFIG_PATH": str(write_auth_config(tmp_path, password)),
        "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(16),
    }
    saved_runs = tmp_path / "runs"
    with server_in(tmp_path, app_name="basic-auth", auth=auth) as secured:
        env = cli_env(secured.url, saved_runs)
        anonymous = invoke(["-v", "train"], env)
        wrong = invoke(
            ["-v", "train"],
            {
                **env,
                "MLFLOW_TRACKING_USERNAME": "admin",
                "MLFLOW_TRACKING_PASSWORD": "wrong",
            },
        )
        admin = {
            "MLFLOW_TRACKING_USERNAME": "admin",
            "MLFLOW_TRACKING_PASSWORD": password,
        }
        accepted = invoke(["-v", "train"], {**env, **admin})

    assert anonymous.exit_code == 1
    assert wrong.exit_code == 1
    assert secured.url in wrong.output.strip().splitlines()[-1]
    assert accepted.exit_code == 0, accepted.output
    assert "Registered version 1" in accepted.output
    assert password not in anonymous.output + wrong.output + accepted.output
    assert files_containing(saved_runs, password) == []
    assert files_containing(tmp_path / "artifacts", password) == []
