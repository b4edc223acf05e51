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
``pipeline.predict`` on the same rows is the ceiling. Standard library only;
see README.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
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
from pathlib import Path

from run import StepError, child_environment, find_uv

REPO = Path(__file__).resolve().parents[1]
CLIENT = Path(__file__).resolve().with_name("serving_client.py")
STARTUP_TIMEOUT_S = 120
SPEEDUP_TARGET = 4.0
P99_TARGET_MS = 5.0
SIZES = ("1", "100")


def progress(message: str) -> None:
    """Print a progress line to stderr."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def check_call(command: Sequence[str], cwd: Path, env: dict[str, str]) -> str:
    """Run ``command``; return its stdout, or raise ``StepError`` with its output."""
    completed = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        tail = (completed.stdout + completed.stderr)[-3000:]
        raise StepError(f"{' '.join(command)} failed:\n{tail}")
    return completed.stdout


def prepare_project(workdir: Path, env: dict[str, str], uv: str) -> Path:
    """Render the default project, create its compiled venv and train once."""
    progress("render, uv sync --compile-bytecode, train")
    command = [sys.executable, "-m", "cookiecutter", str(REPO), "--no-input"]
    check_call([*command, "-o", str(workdir), "init_git=no"], workdir, env)
    (project,) = [path for path in workdir.iterdir() if path.is_dir()]
    check_call([uv, "sync", "--compile-bytecode"], project, env)
    check_call([str(project / ".venv" / "bin" / project.name), "train"], project, env)
    return project


def helper(project: Path, env: dict[str, str], *arguments: str) -> dict:
    """Run serving_client.py with the project's python; return its JSON result."""
    python = str(project / ".venv" / "bin" / "python")
    output = check_call([python, str(CLIENT), *arguments], project, env)
    return json.loads(output.strip().splitlines()[-1])


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class Server:
    """How to start one of the compared servers."""

    name: str
    command: list[str]
    extra_env: dict[str, str]


def servers(project: Path) -> list[Server]:
    """Return the compared servers, one worker each; ``{port}`` is filled in later."""
    venv_bin = project / ".venv" / "bin"
    model = f"models:/{project.name}@champion"
    mlflow = [
        str(venv_bin / "mlflow"), "models", "serve", "-m", model,
        "--env-manager", "local", "-h", "127.0.0.1", "-p", "{port}", "-w", "1",
    ]  # fmt: skip
    own = [str(venv_bin / project.name), "-q", "serve", "--port", "{port}"]
    return [
        Server(f"{project.name} serve", own, {}),
        Server("mlflow models serve", mlflow, {}),
        Server(
            "mlflow models serve, OMP_NUM_THREADS=1", mlflow, {"OMP_NUM_THREADS": "1"}
        ),
    ]


def wait_until_ready(port: int, process: subprocess.Popen) -> float:
    """Poll ``/ping`` until it answers 200; return the seconds it took."""
    start = time.perf_counter()
    while time.perf_counter() - start < STARTUP_TIMEOUT_S:
        if process.poll() is not None:
            raise StepError(f"server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping") as answer:
                if answer.status == 200:
                    return time.perf_counter() - start
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    raise StepError(f"server not ready within {STARTUP_TIMEOUT_S} s")


def stop(process: subprocess.Popen, port: int) -> None:
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


def measure(
    project: Path, env: dict[str, str], server: Server,
    payloads: dict[str, str], requests: int, logs: Path,
) -> dict:  # fmt: skip
    """Start ``server`` on a free port, time both payloads with the client, stop it."""
    progress(f"{server.name}: start")
    port = free_port()
    log = logs / (server.name.replace(" ", "_").replace(",", "") + ".log")
    with log.open("wb") as output:
        process = subprocess.Popen(
            [part.format(port=port) for part in server.command],
            cwd=project,
            env={**env, **server.extra_env},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            figures: dict[str, object] = {"startup_s": wait_until_ready(port, process)}
            for size in SIZES:
                progress(f"{server.name}: {requests} requests of {size} row(s)")
                figures[size] = helper(
                    project, env, "client", str(port), payloads[size], str(requests)
                )
        finally:
            stop(process, port)
    return figures


def table(rows: list[list[str]]) -> str:
    """Format rows as a plain text table, the first row as header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for index, row in enumerate(rows):
        cells = [
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells))
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def report(results: dict, ceiling: dict, names: list[str], requests: int) -> str:
    """Return the printed report: one table, speed-ups and targets."""
    header = ["server (1 worker, 127.0.0.1)", "start s"]
    for size in SIZES:
        header += [f"{size}-row req/s", f"{size}-row p50 ms", f"{size}-row p99 ms"]
    rows = [header]
    for name in names:
        figures = results[name]
        row = [name, f"{figures['startup_s']:.1f}"]
        for size in SIZES:
            f = figures[size]
            row += [
                f"{f['requests_per_s']:,.0f}",
                f"{f['p50_ms']:.2f}",
                f"{f['p99_ms']:.2f}",
            ]
        rows.append(row)
    row = ["in-process pipeline.predict (ceiling)", "-"]
    for size in SIZES:
        f = ceiling[size]
        row += [f"{f['calls_per_s']:,.0f}", f"{f['p50_ms']:.2f}", f"{f['p99_ms']:.2f}"]
    rows.append(row)
    own, mlflow = results[names[0]], results[names[1]]
    lines = [
        table(rows),
        "",
        f"requests per size and server: {requests} (after 50 warm-up)",
    ]
    for size in SIZES:
        speedup = own[size]["requests_per_s"] / mlflow[size]["requests_per_s"]
        verdict = "ok" if speedup >= SPEEDUP_TARGET else "MISS"
        lines.append(
            f"{size}-row: serve / mlflow models serve = {speedup:.2f}x {verdict}"
            f" (target >= {SPEEDUP_TARGET}x)"
        )
        share = own[size]["requests_per_s"] / ceiling[size]["calls_per_s"]
        lines.append(f"{size}-row: serve / in-process ceiling = {share:.2f}")
    p99 = own["1"]["p99_ms"]
    verdict = "ok" if p99 <= P99_TARGET_MS else "MISS"
    lines.append(
        f"1-row p99 of serve: {p99:.2f} ms {verdict} (target <= {P99_TARGET_MS} ms)"
    )
    same = all(
        results[name][size]["predictions"]
        == own[size]["predictions"]
        == ceiling[size]["predictions"]
        for name in names
        for size in SIZES
    )
    lines.append(
        "identical predictions from every server and in-process: "
        + ("yes" if same else "NO")
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, run every measurement, print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--project", type=Path, help="an already trained project")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    env = child_environment()
    uv = find_uv()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="serving-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        if args.project:
            project = args.project.resolve()
        else:
            project = prepare_project(workdir, env, uv)
        env["PATH"] = os.pathsep.join([str(project / ".venv" / "bin"), env["PATH"]])
        env["MLFLOW_TRACKING_URI"] = "sqlite:///mlflow.db"
        logs = workdir / "logs"
        logs.mkdir(exist_ok=True)
        payloads = helper(project, env, "payloads", str(workdir))
        compared = servers(project)
        results = {
            server.name: measure(project, env, server, payloads, args.requests, logs)
            for server in compared
        }
        progress("in-process ceiling")
        ceiling = {
            size: helper(project, env, "inprocess", payloads[size], str(args.requests))
            for size in SIZES
        }
    except StepError as error:
        print(f"error: {error}", file=sys.stderr)
        print(f"work directory kept: {workdir}", file=sys.stderr)
        return 1
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"serving benchmark, {stamp}, {os.cpu_count()} CPUs, {platform.platform()}")
    print(report(results, ceiling, [server.name for server in compared], args.requests))
    if not args.keep and not args.project:
        shutil.rmtree(workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
