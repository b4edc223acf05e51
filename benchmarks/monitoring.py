"""Benchmark the data contract and the monitoring of a rendered project.

Run from the repository root::

    uv run python benchmarks/monitoring.py [--rows 1000000] [--workdir DIR] [--keep]
    uv run python benchmarks/monitoring.py --project DIR   # an already trained project

It renders the template with the default answers, creates the compiled
environment and trains once (or takes ``--project``), then measures, each
command in its own process under ``/usr/bin/time -v``: ``validate`` and
``monitor --current`` on ``--rows`` and ``--rows / 10`` rows resampled from
the demo data, for rows per second and peak memory; and ``serve`` with the
prediction log off and on, loaded by Debian's ``hey`` with 32 concurrent
clients (``apt-get install hey`` when it is missing), for requests per second
and latency. Standard library only (with ``_common.py``, and the resampling
of ``run.py`` and the server handling of ``serving.py``); see README.md.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from _common import (
    LOG_TAIL_CHARS,
    StepError,
    check_output,
    child_environment,
    find_uv,
    log_name,
    machine_line,
    progress,
    table,
    venv_bin,
)
from run import DEMO_DATA, make_inputs
from serving import free_port, prepare_project, stop, wait_until_ready

TIME = "/usr/bin/time"
FLAT_MEMORY_LIMIT = 1.10
MIN_ROWS = 10  # the small table has a tenth of --rows
LOG_RATIO_TARGET = 0.90
CLIENTS = 32
BATCH_SIZES = (1, 100)
KIB_PER_MIB = 1024
# One line of `hey`'s summary and of its latency distribution.
HEY_RATE = re.compile(r"Requests/sec:\s+([\d.]+)")
HEY_PERCENTILE = r"\s{pct}%\s+in\s+([\d.]+)\s+secs"
HEY_STATUS = re.compile(r"\[(\d{3})\]\s+(\d+)\s+responses")
TIME_PEAK = re.compile(r"Maximum resident set size \(kbytes\):\s+(\d+)")
# Prints the numeric and categorical features of the project's configuration.
FEATURES_SCRIPT = """
import json
from pathlib import Path
from {package}.config import load_config
data = load_config(Path("config.yaml")).data
print(json.dumps([data.numeric_features, data.categorical_features]))
"""
# Prints how many rows the prediction log's Parquet files hold.
LOG_ROWS_SCRIPT = """
import sys
from pathlib import Path
import pyarrow.parquet as pq
files = Path(sys.argv[1]).glob("predictions-*.parquet")
print(sum(pq.ParquetFile(path).metadata.num_rows for path in files))
"""


@dataclass(frozen=True)
class Bench:
    """The trained project, how commands are run, and where their output goes."""

    project: Path
    env: dict[str, str]
    workdir: Path
    logs: Path

    @property
    def package(self) -> str:
        """The rendered project's import name."""
        return self.project.name.replace("-", "_")

    def command(self, *arguments: str) -> list[str]:
        """Return the project's console script with ``arguments``."""
        return [venv_bin(self.project, self.project.name), *arguments]

    def log(self, name: str) -> Path:
        """Return the file that receives the output of step ``name``."""
        return self.logs / f"{log_name(name)}.log"


# --------------------------------------------------------------------------
# validate and monitor: rows per second and peak memory


@dataclass(frozen=True)
class Timed:
    """Wall time, peak resident memory and exit status of one command."""

    seconds: float
    peak_mib: float
    returncode: int


def timed(bench: Bench, name: str, command: Sequence[str]) -> Timed:
    """Run ``command`` under ``/usr/bin/time -v``; return its time and peak RSS.

    ``time`` writes its report to a file of its own, so that the command's
    output (in the step's log) cannot be mistaken for it.
    """
    report = bench.log(f"{name}.time")
    with bench.log(name).open("wb") as output:
        start = time.perf_counter()
        completed = subprocess.run(  # noqa: S603 (fixed argv, no shell)
            [TIME, "-v", "-o", str(report), *command],
            cwd=bench.project,
            env=bench.env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            check=False,
        )
        seconds = time.perf_counter() - start
    peak = TIME_PEAK.search(report.read_text(encoding="utf-8"))
    if peak is None:
        raise StepError(f"{name}: no peak memory in {report}")
    return Timed(seconds, int(peak.group(1)) / KIB_PER_MIB, completed.returncode)


@dataclass(frozen=True)
class CommandFigures:
    """Median wall time and highest peak memory of one command on one input."""

    name: str
    rows: int
    seconds: float
    peak_mib: float
    returncodes: tuple[int, ...]

    def cells(self) -> list[str]:
        """Return the table cells of these figures."""
        codes = ", ".join(sorted({str(code) for code in self.returncodes}))
        return [
            self.name,
            f"{self.rows:,}",
            f"{self.seconds:.2f}",
            f"{self.rows / self.seconds:,.0f}",
            f"{self.peak_mib:,.0f}",
            codes,
        ]


def measure_command(
    bench: Bench, name: str, arguments: Sequence[str], rows: int, repeats: int
) -> CommandFigures:
    """Run a command ``repeats`` times on a table of ``rows`` rows.

    Exit status 0 (nothing found) and 3 (broken rules or alerts) are both
    results; any other status fails the benchmark.
    """
    runs = []
    for repeat in range(1, repeats + 1):
        progress(f"{name}, {rows:,} rows, run {repeat} of {repeats}")
        step = f"{name} {rows} {repeat}"
        result = timed(bench, step, bench.command(*arguments))
        if result.returncode not in (0, 3):
            tail = bench.log(step).read_text(encoding="utf-8")[-LOG_TAIL_CHARS:]
            raise StepError(f"{name} exited with {result.returncode}:\n{tail}")
        runs.append(result)
    return CommandFigures(
        name,
        rows,
        statistics.median(run.seconds for run in runs),
        max(run.peak_mib for run in runs),
        tuple(run.returncode for run in runs),
    )


def measure_commands(
    bench: Bench, inputs: dict[int, Path], repeats: int
) -> list[CommandFigures]:
    """Time ``validate`` and ``monitor --current`` on every input table."""
    figures = []
    for rows, path in inputs.items():
        for name, arguments in (
            ("validate", ["-q", "validate", str(path)]),
            ("monitor --current", ["-q", "monitor", "--current", str(path)]),
        ):
            figures.append(measure_command(bench, name, arguments, rows, repeats))
    return figures


# --------------------------------------------------------------------------
# serve with the prediction log on and off


@dataclass(frozen=True)
class Load:
    """What ``hey`` measured against one server for one request body."""

    label: str
    batch: int
    per_s: float
    p50_ms: float
    p99_ms: float

    def cells(self) -> list[str]:
        """Return the table cells of this load."""
        return [
            self.label,
            f"{self.batch}",
            f"{self.per_s:,.1f}",
            f"{self.p50_ms:.1f}",
            f"{self.p99_ms:.1f}",
        ]


def find_hey() -> str:
    """Return the ``hey`` executable, installing Debian's package if missing."""
    found = shutil.which("hey")
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt is None:
        raise StepError("hey is missing and there is no apt-get to install it")
    progress("apt-get install -y hey")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    check_output([apt, "install", "-y", "hey"], env)
    found = shutil.which("hey")
    if found is None:
        raise StepError("apt-get installed hey, but it is not on the PATH")
    return found


def request_bodies(bench: Bench) -> dict[int, Path]:
    """Write one ``dataframe_split`` body per batch size from the demo data.

    The rows are the first ones of the demo data, so the single row is the
    same in every run; ``NA`` becomes a missing value.
    """
    script = FEATURES_SCRIPT.format(package=bench.package)
    output = check_output(
        [venv_bin(bench.project, "python"), "-c", script], bench.env, bench.project
    )
    numeric, categorical = json.loads(output)
    with (bench.project / DEMO_DATA).open(encoding="utf-8", newline="") as demo:
        records = list(csv.DictReader(demo))
    bodies = {}
    for batch in BATCH_SIZES:
        rows = [body_row(record, numeric, categorical) for record in records[:batch]]
        body = {"dataframe_split": {"columns": numeric + categorical, "data": rows}}
        bodies[batch] = bench.workdir / f"body_{batch}.json"
        bodies[batch].write_text(json.dumps(body), encoding="utf-8")
    return bodies


def body_row(
    record: dict[str, str], numeric: list[str], categorical: list[str]
) -> list[float | str | None]:
    """Return a demo data ``record`` as a request row: numbers, then labels."""
    numbers = [
        None if record[name] == "NA" else float(record[name]) for name in numeric
    ]
    labels = [None if record[name] == "NA" else record[name] for name in categorical]
    return [*numbers, *labels]


def parse_hey(output: str, requests: int) -> tuple[float, float, float]:
    """Return requests/s, p50 and p99 ms from ``hey``'s report.

    Raises ``StepError`` unless every one of the ``requests`` answered 200.
    """
    statuses = {code: int(count) for code, count in HEY_STATUS.findall(output)}
    rate = HEY_RATE.search(output)
    p50 = re.search(HEY_PERCENTILE.format(pct=50), output)
    p99 = re.search(HEY_PERCENTILE.format(pct=99), output)
    if statuses != {"200": requests} or not (rate and p50 and p99):
        raise StepError(f"hey: not {requests} answers of 200:\n{output}")
    return float(rate.group(1)), 1000 * float(p50.group(1)), 1000 * float(p99.group(1))


def log_rows(bench: Bench, directory: Path) -> int:
    """Return how many rows the prediction log in ``directory`` holds."""
    command = [venv_bin(bench.project, "python"), "-c", LOG_ROWS_SCRIPT, str(directory)]
    return int(check_output(command, bench.env, bench.project))


@dataclass(frozen=True)
class ServeRun:
    """One server to load: with or without the prediction log."""

    label: str
    log_enabled: bool
    workers: int
    requests: int


def serve_environment(bench: Bench, run: ServeRun, directory: Path) -> dict[str, str]:
    """Return the environment that turns the prediction log on or off."""
    prefix = f"{bench.package.upper()}_MONITORING__PREDICTION_LOG__"
    return {
        **bench.env,
        f"{prefix}ENABLED": "true" if run.log_enabled else "false",
        f"{prefix}DIRECTORY": str(directory),
    }


def load_server(
    bench: Bench, run: ServeRun, hey: str, bodies: dict[int, Path]
) -> tuple[list[Load], int]:
    """Start ``serve``, load it with every body in turn, stop it.

    Returns the loads and the rows of the prediction log, counted once the
    server has stopped, since it writes what it still buffers when it stops.
    """
    directory = bench.workdir / f"prediction-log-{log_name(run.label)}"
    shutil.rmtree(directory, ignore_errors=True)
    port = free_port()
    arguments = ["-q", "serve", "--port", str(port), "--workers", str(run.workers)]
    figures = []
    with bench.log(f"serve {run.label}").open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 (fixed argv, no shell)
            bench.command(*arguments),
            cwd=bench.project,
            env=serve_environment(bench, run, directory),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_until_ready(port, process)
            for batch, body in bodies.items():
                progress(
                    f"serve, {run.label}: {run.requests} requests of {batch} row(s)"
                )
                figures.append(hey_figures(hey, port, body, run.requests))
        finally:
            stop(process, port)
    rows = log_rows(bench, directory) if directory.is_dir() else 0
    loads = [
        Load(run.label, batch, *figure)
        for batch, figure in zip(bodies, figures, strict=True)
    ]
    return loads, rows


def hey_figures(
    hey: str, port: int, body: Path, requests: int
) -> tuple[float, float, float]:
    """Send ``requests`` POSTs of ``body`` from 32 clients; return hey's figures."""
    command = [
        hey, "-n", str(requests), "-c", str(CLIENTS), "-m", "POST",
        "-T", "application/json", "-D", str(body),
        f"http://127.0.0.1:{port}/invocations",
    ]  # fmt: skip
    completed = subprocess.run(  # noqa: S603 (fixed argv, no shell)
        command, capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        raise StepError(f"hey failed:\n{completed.stdout}{completed.stderr}")
    return parse_hey(completed.stdout, requests)


def measure_serving(
    bench: Bench, requests: int, rounds: int, workers: int
) -> tuple[list[Load], int]:
    """Load ``serve`` with the log off, then on, ``rounds`` times in turn.

    Alternating the two servers spreads a busy neighbour's load over both.
    Returns the median figures of each server and body, and the rows the
    log held after the last round with it on.
    """
    hey = find_hey()
    bodies = request_bodies(bench)
    runs = [
        ServeRun("log off", log_enabled=False, workers=workers, requests=requests),
        ServeRun("log on", log_enabled=True, workers=workers, requests=requests),
    ]
    loads: list[Load] = []
    rows = 0
    for _ in range(rounds):
        for run in runs:
            measured, logged = load_server(bench, run, hey, bodies)
            loads += measured
            rows = logged if run.log_enabled else rows
    return [
        median_load(loads, run.label, batch) for run in runs for batch in bodies
    ], rows


def median_load(loads: Sequence[Load], label: str, batch: int) -> Load:
    """Return the median figures of the loads of one server and body."""
    same = [load for load in loads if load.label == label and load.batch == batch]
    return Load(
        label,
        batch,
        statistics.median(load.per_s for load in same),
        statistics.median(load.p50_ms for load in same),
        statistics.median(load.p99_ms for load in same),
    )


# --------------------------------------------------------------------------
# Report


def command_lines(figures: Sequence[CommandFigures]) -> list[str]:
    """Return the table of ``validate`` and ``monitor`` and the memory targets."""
    header = ["command", "rows", "wall s", "rows/s", "peak RSS MiB", "exit"]
    lines = [table(header, [figure.cells() for figure in figures])]
    for name in dict.fromkeys(figure.name for figure in figures):
        own = sorted((f for f in figures if f.name == name), key=lambda f: f.rows)
        ratio = own[-1].peak_mib / own[0].peak_mib
        verdict = "ok" if ratio <= FLAT_MEMORY_LIMIT else "MISS"
        lines.append(
            f"{name}: peak RSS {own[-1].rows:,} / {own[0].rows:,} rows ="
            f" {ratio:.2f} {verdict} (target <= {FLAT_MEMORY_LIMIT})"
        )
    return lines


def serving_lines(
    loads: Sequence[Load], rows_logged: int, requests: int, workers: int
) -> list[str]:
    """Return the table of ``serve`` with the log off and on, and the ratios."""
    header = ["serve", "rows/request", "req/s", "p50 ms", "p99 ms"]
    lines = [
        table(header, [load.cells() for load in loads]),
        f"{requests} requests per body, {CLIENTS} clients, {workers} worker(s)",
    ]
    by_key = {(load.label, load.batch): load for load in loads}
    for batch in BATCH_SIZES:
        ratio = by_key["log on", batch].per_s / by_key["log off", batch].per_s
        verdict = "ok" if ratio >= LOG_RATIO_TARGET else "MISS"
        lines.append(
            f"{batch}-row requests: log on / log off = {ratio:.3f} {verdict}"
            f" (target >= {LOG_RATIO_TARGET})"
        )
    scored = requests * sum(BATCH_SIZES)
    lines.append(
        f"rows in the log after a round with it on: {rows_logged:,} of {scored:,}"
    )
    return lines


# --------------------------------------------------------------------------
# Main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Return the command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--requests", type=int, default=100 * CLIENTS)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--project", type=Path, help="an already trained project")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    if args.project and not (args.project / "config.yaml").is_file():
        parser.error(f"--project {args.project}: not a rendered project directory")
    if args.rows < MIN_ROWS or min(args.repeats, args.requests, args.rounds) < 1:
        parser.error(f"--rows must be at least {MIN_ROWS}, other counts at least 1")
    # hey shares the requests evenly between its clients and drops the rest.
    if args.requests % CLIENTS:
        parser.error(f"--requests must be a multiple of the {CLIENTS} clients")
    return args


def benchmark(args: argparse.Namespace, workdir: Path) -> list[str]:
    """Prepare the project, take every figure, return the report's lines."""
    env = child_environment()
    if args.project:
        project = args.project.resolve()
    else:
        project = prepare_project(workdir, env, find_uv())
    logs = workdir / "logs"
    logs.mkdir(exist_ok=True)
    bench = Bench(project, env, workdir, logs)
    sizes = [args.rows // 10, args.rows]
    progress(f"write {', '.join(f'{rows:,}' for rows in sizes)} resampled rows")
    inputs = make_inputs(bench.workdir, bench.project, sizes)
    figures = measure_commands(bench, inputs, args.repeats)
    loads, rows_logged = measure_serving(
        bench, args.requests, args.rounds, args.workers
    )
    return [
        *command_lines(figures),
        f"medians of {args.repeats} run(s); peak RSS: the highest",
        "",
        *serving_lines(loads, rows_logged, args.requests, args.workers),
        f"medians of {args.rounds} round(s), log off then on in each",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, run every measurement, print the report."""
    args = parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="monitoring-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        lines = benchmark(args, workdir.resolve())
    except StepError as error:
        print(f"error: {error}", file=sys.stderr)
        print(f"work directory kept: {workdir}", file=sys.stderr)
        return 1
    now = datetime.datetime.now(datetime.timezone.utc)
    print(machine_line("monitoring benchmark", now))
    print("\n".join(lines))
    if not args.keep:
        shutil.rmtree(workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
