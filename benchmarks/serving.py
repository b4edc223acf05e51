"""Benchmark the generated ``serve`` command against ``mlflow models serve``.

Run from the repository root::

    uv run python benchmarks/serving.py [--requests 1000] [--workdir DIR] [--keep]
    uv run python benchmarks/serving.py --project DIR   # an already trained project

It renders the template with the default answers, creates the environment,
trains once (so the champion is registered in the project's ``mlflow.db``),
then, side by side in one go on 127.0.0.1 with one worker each, serves that
same model with the project's ``serve`` and with ``mlflow models serve
--env-manager local``, and sends the same single-row and 100-row
``dataframe_split`` requests from the same client. In-process
``pipeline.predict`` on the same rows is the ceiling. Standard library only
(with ``_common.py``); see README.md.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

from _common import (
    TRACKING_URI,
    StepError,
    champion_uri,
    check_output,
    child_environment,
    find_uv,
    json_object,
    log_name,
    machine_line,
    progress,
    render_command,
    rendered_project,
    subdirectories,
    table,
    venv_bin,
)

CLIENT = Path(__file__).resolve().with_name("serving_client.py")
STARTUP_TIMEOUT_S = 120
SPEEDUP_TARGET = 4.0
P99_TARGET_MS = 5.0
SIZES = ("1", "100")


def prepare_project(workdir: Path, env: dict[str, str], uv: str) -> Path:
    """Render the default project, create its compiled venv and train once."""
    progress("render, uv sync --compile-bytecode, train")
    before = subdirectories(workdir)
    check_output(render_command(workdir, "init_git=no"), env, workdir)
    project = rendered_project(workdir, before)
    check_output([uv, "sync", "--compile-bytecode"], env, project)
    check_output([venv_bin(project, project.name), "train"], env, project)
    return project


def helper(project: Path, env: dict[str, str], *arguments: str) -> dict[str, Any]:
    """Run serving_client.py with the project's python; return its JSON result."""
    command = [venv_bin(project, "python"), str(CLIENT), *arguments]
    output = check_output(command, env, project)
    return json_object(output.strip().splitlines()[-1])


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class Server:
    """How to start one of the compared servers."""

    name: str
    command: list[str]
    extra_env: dict[str, str]


@dataclass(frozen=True)
class Latency:
    """Throughput, latency percentiles and answers for one payload size."""

    per_s: float
    p50_ms: float
    p99_ms: float
    predictions: list[Any]

    @classmethod
    def from_json(cls, figures: dict[str, Any], rate: str) -> Latency:
        """Take the figures serving_client.py reported; ``rate`` names the rate."""
        return cls(
            figures[rate], figures["p50_ms"], figures["p99_ms"], figures["predictions"]
        )

    def cells(self) -> list[str]:
        """Return the table cells: rate per second, p50 and p99 milliseconds."""
        return [f"{self.per_s:,.0f}", f"{self.p50_ms:.2f}", f"{self.p99_ms:.2f}"]


@dataclass(frozen=True)
class Measured:
    """Start-up time and per-size figures of one server."""

    startup_s: float
    sizes: dict[str, Latency]


@dataclass(frozen=True)
class Bench:
    """The trained project and what every measurement sends to it."""

    project: Path
    env: dict[str, str]
    payloads: dict[str, str]
    requests: int
    logs: Path


def servers(project: Path) -> list[Server]:
    """Return the compared servers, one worker each; ``{port}`` is filled in later."""
    model = champion_uri(project.name)
    mlflow = [
        venv_bin(project, "mlflow"), "models", "serve", "-m", model,
        "--env-manager", "local", "-h", "127.0.0.1", "-p", "{port}", "-w", "1",
    ]  # fmt: skip
    own = [venv_bin(project, project.name), "-q", "serve", "--port", "{port}"]
    return [
        Server(f"{project.name} serve", own, {}),
        Server("mlflow models serve", mlflow, {}),
        Server(
            "mlflow models serve, OMP_NUM_THREADS=1", mlflow, {"OMP_NUM_THREADS": "1"}
        ),
    ]


def wait_until_ready(port: int, process: subprocess.Popen[bytes]) -> float:
    """Poll ``/ping`` until it answers 200; return the seconds it took."""
    start = time.perf_counter()
    while time.perf_counter() - start < STARTUP_TIMEOUT_S:
        if process.poll() is not None:
            raise StepError(f"server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping") as answer:
                if answer.status == HTTPStatus.OK:
                    return time.perf_counter() - start
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    raise StepError(f"server not ready within {STARTUP_TIMEOUT_S} s")


def stop(process: subprocess.Popen[bytes], port: int) -> None:
    """SIGTERM the server's process group; wait until the port is closed."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    deadline = time.perf_counter() + 30
    while time.perf_counter() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return
        time.sleep(0.2)


def measure(bench: Bench, server: Server) -> Measured:
    """Start ``server`` on a free port, time both payloads with the client, stop it."""
    progress(f"{server.name}: start")
    port = free_port()
    log = bench.logs / f"{log_name(server.name)}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 (fixed argv, no shell)
            [part.format(port=port) for part in server.command],
            cwd=bench.project,
            env={**bench.env, **server.extra_env},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            startup_s = wait_until_ready(port, process)
            sizes = {}
            for size in SIZES:
                progress(f"{server.name}: {bench.requests} requests of {size} row(s)")
                arguments = (str(port), bench.payloads[size], str(bench.requests))
                figures = helper(bench.project, bench.env, "client", *arguments)
                sizes[size] = Latency.from_json(figures, "requests_per_s")
        finally:
            stop(process, port)
    return Measured(startup_s, sizes)


def ceiling(bench: Bench) -> dict[str, Latency]:
    """Time ``pipeline.predict`` in one process on every payload's rows."""
    progress("in-process ceiling")
    best = {}
    for size in SIZES:
        arguments = (bench.payloads[size], str(bench.requests))
        figures = helper(bench.project, bench.env, "inprocess", *arguments)
        best[size] = Latency.from_json(figures, "calls_per_s")
    return best


def server_table(results: dict[str, Measured], best: dict[str, Latency]) -> str:
    """Return the table of every server's figures, the in-process ceiling last."""
    header = ["server (1 worker, 127.0.0.1)", "start s"]
    for size in SIZES:
        header += [f"{size}-row req/s", f"{size}-row p50 ms", f"{size}-row p99 ms"]
    rows = []
    for name, measured in results.items():
        row = [name, f"{measured.startup_s:.1f}"]
        for size in SIZES:
            row += measured.sizes[size].cells()
        rows.append(row)
    row = ["in-process pipeline.predict (ceiling)", "-"]
    for size in SIZES:
        row += best[size].cells()
    rows.append(row)
    return table(header, rows)


def target_lines(results: dict[str, Measured], best: dict[str, Latency]) -> list[str]:
    """Return the speed-ups, the p99 target and the check of the predictions."""
    own, mlflow = list(results.values())[:2]
    lines = []
    for size in SIZES:
        speedup = own.sizes[size].per_s / mlflow.sizes[size].per_s
        verdict = "ok" if speedup >= SPEEDUP_TARGET else "MISS"
        lines.append(
            f"{size}-row: serve / mlflow models serve = {speedup:.2f}x {verdict}"
            f" (target >= {SPEEDUP_TARGET}x)"
        )
        share = own.sizes[size].per_s / best[size].per_s
        lines.append(f"{size}-row: serve / in-process ceiling = {share:.2f}")
    p99 = own.sizes["1"].p99_ms
    verdict = "ok" if p99 <= P99_TARGET_MS else "MISS"
    lines.append(
        f"1-row p99 of serve: {p99:.2f} ms {verdict} (target <= {P99_TARGET_MS} ms)"
    )
    same = all(
        measured.sizes[size].predictions
        == own.sizes[size].predictions
        == best[size].predictions
        for measured in results.values()
        for size in SIZES
    )
    lines.append(
        "identical predictions from every server and in-process: "
        + ("yes" if same else "NO")
    )
    return lines


def report(
    results: dict[str, Measured], best: dict[str, Latency], requests: int
) -> str:
    """Return the printed report: one table, speed-ups and targets.

    ``results`` holds the generated server first, ``mlflow models serve``
    second.
    """
    lines = [
        server_table(results, best),
        "",
        f"requests per size and server: {requests} (after 50 warm-up)",
        *target_lines(results, best),
    ]
    return "\n".join(lines)


def benchmark(
    project: Path, env: dict[str, str], workdir: Path, requests: int
) -> tuple[dict[str, Measured], dict[str, Latency]]:
    """Measure every server in turn, then the in-process ceiling."""
    env = {
        **env,
        "PATH": os.pathsep.join([str(project / ".venv" / "bin"), env["PATH"]]),
        "MLFLOW_TRACKING_URI": TRACKING_URI,
    }
    logs = workdir / "logs"
    logs.mkdir(exist_ok=True)
    payloads = helper(project, env, "payloads", str(workdir))
    bench = Bench(project, env, payloads, requests, logs)
    results = {server.name: measure(bench, server) for server in servers(project)}
    return results, ceiling(bench)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Return the command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--project", type=Path, help="an already trained project")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    if args.project and not (args.project / "config.yaml").is_file():
        parser.error(f"--project {args.project}: not a rendered project directory")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, run every measurement, print the report."""
    args = parse_args(argv)
    env = child_environment()
    uv = find_uv()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="serving-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        if args.project:
            project = args.project.resolve()
        else:
            project = prepare_project(workdir, env, uv)
        results, best = benchmark(project, env, workdir, args.requests)
    except StepError as error:
        print(f"error: {error}", file=sys.stderr)
        print(f"work directory kept: {workdir}", file=sys.stderr)
        return 1
    now = datetime.datetime.now(datetime.timezone.utc)
    print(machine_line("serving benchmark", now))
    print(report(results, best, args.requests))
    if not args.keep and not args.project:
        shutil.rmtree(workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
