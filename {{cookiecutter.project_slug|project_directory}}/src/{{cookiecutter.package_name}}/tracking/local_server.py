"""A local MLflow tracking server, shaped like a team's, for development and tests.

It listens on 127.0.0.1 only, keeps runs in a SQLite or PostgreSQL backend
store and artifacts in a local directory, and is kept light: one worker, job
execution and telemetry off. It is ready once ``GET /health`` answers 200.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ..errors import TrackingError, hide_credentials

logger = logging.getLogger(__name__)

LOCAL_HOST = "127.0.0.1"
STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
POLL_INTERVAL = 0.2
# One worker, no job runner and no telemetry: a few hundred MB instead of GBs.
SERVER_ENVIRONMENT = {
    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    "MLFLOW_DISABLE_TELEMETRY": "true",
}


@dataclass(frozen=True)
class RunningServer:
    """A started tracking server: its URL and its process."""

    url: str
    process: subprocess.Popen[bytes]


def server_command(
    port: int,
    backend_store_uri: str,
    artifacts_dir: Path,
    app_name: str | None = None,
) -> list[str]:
    """Return the ``mlflow server`` command line, run by this interpreter."""
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--host",
        LOCAL_HOST,
        "--port",
        str(port),
        "--backend-store-uri",
        backend_store_uri,
        "--artifacts-destination",
        str(artifacts_dir.resolve()),
        "--workers",
        "1",
    ]
    if app_name:
        command += ["--app-name", app_name]
    return command


def is_healthy(url: str, timeout: float = 1.0) -> bool:
    """Return whether the server at ``url`` answers ``GET /health`` with 200."""
    try:
        # ``url`` is always http://127.0.0.1:<port>, built by this module.
        health = f"{url}/health"
        with urllib.request.urlopen(health, timeout=timeout) as response:  # noqa: S310
            return bool(response.status == 200)  # noqa: PLR2004 (HTTP OK)
    except OSError:  # urllib's URLError included
        return False


def wait_until_healthy(
    url: str, process: subprocess.Popen[Any], timeout: float
) -> None:
    """Poll ``url``'s health endpoint until it answers, the process exits, or time ends.

    Any server with a ``/health`` route will do: the tests also wait for the
    scoring service with it.

    Raises
    ------
    TrackingError
        If the server exits or is not healthy within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise TrackingError(
                f"the server for {url} exited with status {process.returncode}"
                " before it was ready: check its log and that the port is free"
            )
        if is_healthy(url):
            return
        time.sleep(POLL_INTERVAL)
    raise TrackingError(
        f"the server at {url} was not ready within {timeout:.0f} s:"
        " check its log and the backend store URI"
    )


def stop(process: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT) -> None:
    """Stop the server's process group: SIGTERM, then SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextmanager
def tracking_server(
    port: int,
    backend_store_uri: str,
    artifacts_dir: Path,
    *,
    app_name: str | None = None,
    log_file: IO[bytes] | None = None,
    startup_timeout: float = STARTUP_TIMEOUT,
    extra_environment: Sequence[tuple[str, str]] = (),
) -> Iterator[RunningServer]:
    """Run an MLflow tracking server on ``127.0.0.1:port`` for the ``with`` block.

    Parameters
    ----------
    port
        TCP port on 127.0.0.1.
    backend_store_uri
        Where runs and the registry live, e.g. ``sqlite:///mlflow-server.db``
        or ``postgresql://user@127.0.0.1:5432/mlflow``.
    artifacts_dir
        Local directory the server stores artifacts (models, plots) in.
    app_name
        MLflow server app, e.g. ``basic-auth`` for HTTP basic authentication.
    log_file
        Where the server's output goes; the terminal if ``None``.
    startup_timeout
        Seconds to wait for ``/health`` before giving up.
    extra_environment
        More environment variables for the server process.

    Yields
    ------
    RunningServer
        The server; its ``url`` is the ``MLFLOW_TRACKING_URI`` to use.

    Raises
    ------
    TrackingError
        If the server cannot start or is not healthy in time.
    """
    url = f"http://{LOCAL_HOST}:{port}"
    artifacts_dir.mkdir(parents=True, exist_ok=True)
    environment = {**os.environ, **SERVER_ENVIRONMENT, **dict(extra_environment)}
    command = server_command(port, backend_store_uri, artifacts_dir, app_name)
    store = hide_credentials(backend_store_uri)
    logger.info("Starting MLflow server at %s (store %s)", url, store)
    # A process group of its own, so that stopping it stops its workers too.
    process = subprocess.Popen(  # noqa: S603 (a fixed command line, no shell)
        command,
        env=environment,
        stdout=log_file,
        stderr=subprocess.STDOUT if log_file else None,
        start_new_session=True,
    )
    try:
        wait_until_healthy(url, process, startup_timeout)
        logger.info("MLflow server ready at %s", url)
        yield RunningServer(url, process)
    finally:
        stop(process)
        logger.info("MLflow server at %s stopped", url)
