"""Benchmark the generated ``serve`` command against ``mlflow models serve`` under load.

Run from the repository root::

    uv run python benchmarks/serving.py [--seconds 10] [--workdir DIR] [--keep]
    uv run python benchmarks/serving.py --project DIR   # an already trained project

It renders the template with the default answers, creates the environment,
trains once (so the champion is registered in the project's ``mlflow.db``),
then, side by side in one go on 127.0.0.1 with one worker each, serves that
same model with the project's ``serve`` and with ``mlflow models serve
--env-manager local``, and loads each with Debian's ``hey`` sending the same
single-row ``dataframe_split`` request from 1, 8, 32 and 64 concurrent
clients. In-process ``pipeline.predict`` on the same row is the ceiling of
one client. Standard library and ``hey`` only (with ``_common.py``); see
README.md.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import io
import json
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
    Target,
    add_targets_option,
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
    write_targets,
)

CLIENT = Path(__file__).resolve().with_name("serving_client.py")
HEY = "hey"
STARTUP_TIMEOUT_S = 120
CLIENTS = (1, 8, 32, 64)
LOADED_CLIENTS = 32
SPEEDUP_TARGET = 10.0
P99_TARGET_MS = 50.0
CEILING_SHARE_TARGET = 0.85
WARM_UP_REQUESTS = 200
CEILING_CALLS = 1000


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
class Load:
    """What ``hey`` measured at one number of concurrent clients."""

    per_s: float
    p50_ms: float
    p99_ms: float
    failed: int

    @classmethod
    def from_csv(cls, text: str) -> Load:
        """Summarise the per-request lines of ``hey -o csv``.

        The rate counts the answered requests over the time from the first
        request sent to the last answer received; failed counts non-2xx
        answers and requests that got none.
        """
        rows = list(csv.DictReader(io.StringIO(text)))
        if not rows:
            raise StepError("hey reported no request")
        latencies = sorted(float(row["response-time"]) for row in rows)
        ends = [float(row["offset"]) + float(row["response-time"]) for row in rows]
        failed = sum(not row["status-code"].startswith("2") for row in rows)
        return cls(
            (len(rows) - failed) / max(ends),
            1000 * latencies[len(latencies) // 2],
            1000 * latencies[int(0.99 * (len(latencies) - 1))],
            failed,
        )

    def cells(self) -> list[str]:
        """Return the table cells: requests/s, p50 and p99 ms, failures."""
        return [
            f"{self.per_s:,.0f}",
            f"{self.p50_ms:.1f}",
            f"{self.p99_ms:.1f}",
            str(self.failed),
        ]


@dataclass(frozen=True)
class Measured:
    """Start-up time, answer and figures under load of one server."""

    startup_s: float
    predictions: list[Any]
    loads: dict[int, Load]


@dataclass(frozen=True)
class Ceiling:
    """In-process ``pipeline.predict`` on the same row, one thread."""

    per_s: float
    predictions: list[Any]


@dataclass(frozen=True)
class Bench:
    """The trained project and what every measurement sends to it."""

    project: Path
    env: dict[str, str]
    payload: Path
    seconds: int
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


def hey(url: str, payload: Path, clients: int, *, seconds: int = 0) -> str:
    """Load ``url`` with ``hey`` from ``clients`` clients; return its CSV lines.

    With ``seconds`` 0, only :data:`WARM_UP_REQUESTS` requests are sent.
    """
    command = [HEY, "-c", str(clients), "-m", "POST", "-T", "application/json"]
    command += ["-D", str(payload), "-o", "csv"]
    if seconds:
        command += ["-z", f"{seconds}s"]
    else:
        command += ["-n", str(max(WARM_UP_REQUESTS, clients))]
    result = subprocess.run(  # noqa: S603 (fixed argv, no shell)
        [*command, url], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise StepError(f"hey failed: {result.stderr.strip()[:300]}")
    return result.stdout


def answer(port: int, payload: Path) -> list[Any]:
    """Post ``payload`` once; return the predictions the server answered."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/invocations",
        data=payload.read_bytes(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as response:  # noqa: S310 (local http)
        predictions: list[Any] = json.loads(response.read())["predictions"]
        return predictions


def measure(bench: Bench, server: Server) -> Measured:
    """Start ``server`` on a free port, load it at each concurrency, stop it."""
    progress(f"{server.name}: start")
    port = free_port()
    url = f"http://127.0.0.1:{port}/invocations"
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
            predictions = answer(port, bench.payload)
            loads = {}
            for clients in CLIENTS:
                progress(f"{server.name}: {clients} client(s), {bench.seconds} s")
                hey(url, bench.payload, clients)
                figures = hey(url, bench.payload, clients, seconds=bench.seconds)
                loads[clients] = Load.from_csv(figures)
        finally:
            stop(process, port)
    return Measured(startup_s, predictions, loads)


def ceiling(bench: Bench) -> Ceiling:
    """Time ``pipeline.predict`` in one process on the payload's row."""
    progress("in-process ceiling")
    arguments = (str(bench.payload), str(CEILING_CALLS))
    figures = helper(bench.project, bench.env, "inprocess", *arguments)
    return Ceiling(figures["calls_per_s"], figures["predictions"])


def server_table(results: dict[str, Measured]) -> str:
    """Return the table of every server's figures at each number of clients."""
    header = ["server (1 worker, 127.0.0.1)", "clients", "req/s", "p50 ms"]
    header += ["p99 ms", "non-2xx", "start s"]
    rows = []
    for name, measured in results.items():
        for clients, load in measured.loads.items():
            rows.append(
                [name, str(clients), *load.cells(), f"{measured.startup_s:.1f}"]
            )
    return table(header, rows)


def verdict(passed: bool) -> str:
    """Return ``ok`` or ``MISS``."""
    return "ok" if passed else "MISS"


def judged_targets(results: dict[str, Measured], best: Ceiling) -> list[Target]:
    """Return each target with its figure, and the check of the predictions."""
    own, mlflow = (measured.loads for measured in results.values())
    loaded = own[LOADED_CLIENTS]
    speedup = loaded.per_s / mlflow[LOADED_CLIENTS].per_s
    share = own[1].per_s / best.per_s
    same = all(m.predictions == best.predictions for m in results.values())
    return [
        Target(
            f"serve / mlflow models serve, {LOADED_CLIENTS} clients (x)",
            f"{speedup:.1f}",
            f">= {SPEEDUP_TARGET:.0f}",
            speedup >= SPEEDUP_TARGET,
        ),
        Target(
            f"serve p99, {LOADED_CLIENTS} clients (ms)",
            f"{loaded.p99_ms:.1f}",
            f"< {P99_TARGET_MS:.0f}",
            loaded.p99_ms < P99_TARGET_MS,
        ),
        Target(
            "serve, 1 client / in-process calls/s (x)",
            f"{share:.2f}",
            f">= {CEILING_SHARE_TARGET}",
            share >= CEILING_SHARE_TARGET,
        ),
        Target(
            "identical predictions from every server and in-process",
            "yes" if same else "no",
            "yes",
            same,
        ),
    ]


def target_lines(targets: Sequence[Target], best: Ceiling) -> list[str]:
    """Return the ceiling, then each target next to its figure."""
    return [
        f"in-process pipeline.predict on the same row: {best.per_s:,.0f} calls/s",
        *(
            f"{target.figure}: {target.value} {verdict(target.met)}"
            f" (target {target.goal})"
            for target in targets
        ),
    ]


def report(
    results: dict[str, Measured],
    best: Ceiling,
    targets: Sequence[Target],
    seconds: int,
) -> str:
    """Return the printed report: one table, then the targets.

    ``results`` holds the generated server first, ``mlflow models serve``
    second.
    """
    lines = [
        server_table(results),
        "",
        f"hey: one single-row request per call, {seconds} s per row of the table"
        f" (after {WARM_UP_REQUESTS} warm-up requests)",
        *target_lines(targets, best),
    ]
    return "\n".join(lines)


def benchmark(
    project: Path, env: dict[str, str], workdir: Path, seconds: int
) -> tuple[dict[str, Measured], Ceiling]:
    """Measure every server in turn, then the in-process ceiling."""
    env = {
        **env,
        "PATH": os.pathsep.join([str(project / ".venv" / "bin"), env["PATH"]]),
        "MLFLOW_TRACKING_URI": TRACKING_URI,
    }
    logs = workdir / "logs"
    logs.mkdir(exist_ok=True)
    payload = Path(helper(project, env, "payload", str(workdir))["path"])
    bench = Bench(project, env, payload, seconds, logs)
    results = {server.name: measure(bench, server) for server in servers(project)}
    return results, ceiling(bench)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Return the command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seconds", type=int, default=10, help="load time per server and clients"
    )
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--project", type=Path, help="an already trained project")
    parser.add_argument("--keep", action="store_true")
    add_targets_option(parser)
    args = parser.parse_args(argv)
    if args.project and not (args.project / "config.yaml").is_file():
        parser.error(f"--project {args.project}: not a rendered project directory")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, run every measurement, print the report."""
    args = parse_args(argv)
    if shutil.which(HEY) is None:
        print("error: hey not found; apt-get install hey", file=sys.stderr)
        return 1
    env = child_environment()
    uv = find_uv()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="serving-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        if args.project:
            project = args.project.resolve()
        else:
            project = prepare_project(workdir, env, uv)
        results, best = benchmark(project, env, workdir, args.seconds)
    except StepError as error:
        print(f"error: {error}", file=sys.stderr)
        print(f"work directory kept: {workdir}", file=sys.stderr)
        return 1
    now = datetime.datetime.now(datetime.timezone.utc)
    print(machine_line("serving benchmark", now))
    targets = judged_targets(results, best)
    print(report(results, best, targets, args.seconds))
    write_targets(args.targets, targets)
    if not args.keep and not args.project:
        shutil.rmtree(workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
