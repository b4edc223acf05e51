"""Slow tier: a generated project against an MLflow server backed by PostgreSQL.

A throwaway PostgreSQL cluster (Debian's ``postgresql`` package) listens on
127.0.0.1 for the session; the project's own ``tracking-server`` command runs
MLflow on it, with the ``psycopg`` driver added only to the server's
environment (``uv run --with``), as the project's docs describe. The CLI then
trains, gates and predicts through the champion alias against that server.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from baked import Cookies
from helpers import free_port
from installed import DEFAULT_COMBINATION, Project, installed_project

pytestmark = pytest.mark.slow

SERVER_START_TIMEOUT = 180


def install_postgresql() -> None:
    """Install Debian's ``postgresql`` where this test may: as root, with apt-get.

    CI starts from a fresh machine; a developer without root installs the
    package once instead (the skip below says so).
    """
    apt_get = shutil.which("apt-get")
    if apt_get is None or os.geteuid() != 0:
        return
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for arguments in (["update", "-qq"], ["install", "-y", "-qq", "postgresql"]):
        subprocess.run(
            [apt_get, *arguments], env=environment, capture_output=True, check=False
        )


def postgres_bindir() -> Path | None:
    """Directory of initdb and pg_ctl, as reported by ``pg_config``."""
    if shutil.which("pg_config") is None:
        install_postgresql()
    pg_config = shutil.which("pg_config")
    if pg_config is None:
        return None
    completed = subprocess.run(
        [pg_config, "--bindir"], capture_output=True, text=True, check=False
    )
    bindir = Path(completed.stdout.strip())
    return bindir if (bindir / "initdb").is_file() else None


def as_postgres_user(*command: str) -> list[str]:
    """``command`` as the ``postgres`` user when run by root (initdb refuses root)."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return list(command)


def run(command: list[str]) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    assert completed.returncode == 0, (
        f"{' '.join(command)} exited {completed.returncode}\n"
        f"{completed.stdout}\n{completed.stderr}"
    )
    return completed


@pytest.fixture(scope="module")
def postgres_uri() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on 127.0.0.1 with an ``mlflow`` database."""
    bindir = postgres_bindir()
    if bindir is None:
        pytest.skip(
            "PostgreSQL (pg_config, initdb) is not installed and could not be:"
            " run `apt-get install postgresql` as root"
        )
    # Not pytest's tmp_path: its parents are private to root, and the server
    # runs as the postgres user.
    data = Path(tempfile.mkdtemp(prefix="ml-template-pg-"))
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
    port = free_port()
    pg_ctl = str(bindir / "pg_ctl")
    server_options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1"
    try:
        initdb = [str(bindir / "initdb"), "-D", str(data), "-A", "trust"]
        run(as_postgres_user(*initdb, "-U", "postgres", "--no-sync"))
        log = str(data / "server.log")
        run(as_postgres_user(pg_ctl, "-D", str(data), "-o", server_options, "-l", log,
                             "-w", "start"))  # fmt: skip
        createdb = [str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port)]
        run(as_postgres_user(*createdb, "-U", "postgres", "mlflow"))
        yield f"postgresql://postgres@127.0.0.1:{port}/mlflow"
    finally:
        subprocess.run(
            as_postgres_user(pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"),
            capture_output=True,
            check=False,
        )
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(scope="module")
def project(cookies_session: Cookies) -> Project:
    """The classification project on Python 3.11, with its environment."""
    return installed_project(cookies_session, DEFAULT_COMBINATION)


def wait_for_text(path: Path, text: str, process: subprocess.Popen[bytes]) -> None:
    """Wait until ``text`` is in the file at ``path``; fail if ``process`` exits."""
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while text not in path.read_text(encoding="utf-8", errors="replace"):
        log = path.read_text(encoding="utf-8", errors="replace")
        assert process.poll() is None, f"server exited {process.returncode}\n{log}"
        assert time.monotonic() < deadline, log
        time.sleep(0.5)


@pytest.fixture(scope="module")
def server_url(project: Project, postgres_uri: str) -> Iterator[str]:
    """The project's ``tracking-server`` command on PostgreSQL, as documented."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = project.path / "tracking-server.log"
    command = [
        project.uv, "run", "--with", "psycopg[binary]", project.slug,
        "tracking-server", "--port", str(port),
        "--backend-store-uri", postgres_uri, "--artifacts-dir", "mlartifacts",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            command,
            cwd=project.path,
            env=project.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_text(log_path, f"export MLFLOW_TRACKING_URI={url}", server)
        yield url
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)


def file_state(path: Path) -> tuple[int, int] | None:
    """Size and modification time of ``path``, or ``None`` if it does not exist."""
    if not path.exists():
        return None
    status = path.stat()
    return status.st_size, status.st_mtime_ns


def test_train_gate_predict_against_postgres_backed_server(
    project: Project, server_url: str, tmp_path: Path
) -> None:
    prefix = project.package.upper()
    saved_runs = tmp_path / "saved-runs"
    env = {
        "MLFLOW_TRACKING_URI": server_url,
        f"{prefix}_TRACKING__SAVED_RUNS": str(saved_runs),
    }
    weak = {**env, f"{prefix}_MODEL__MAX_ITER": "1"}
    local_store = project.path / "mlflow.db"
    local_store_before = file_state(local_store)

    first = project.cli("train", extra_env=env)
    second = project.cli("train", extra_env=weak)
    predicted = project.cli(
        "predict", "data/penguins.csv", "--output", "predictions.csv", extra_env=env
    )

    assert "Registered version 1; no champion yet" in first.stdout
    assert "Registered version 2; champion kept" in second.stdout
    assert "Wrote 344 predictions to predictions.csv" in predicted.stdout
    assert file_state(local_store) == local_store_before
    runs = list(saved_runs.iterdir())
    assert len(runs) == 2
    assert all((run / "logged.json").is_file() for run in runs)
