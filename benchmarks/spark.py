"""Benchmark Spark batch scoring against the pandas engine of a rendered project.

Run from the repository root::

    uv run python benchmarks/spark.py [--rows 10000000] [--workdir DIR] [--keep]
    uv run python benchmarks/spark.py --project DIR   # trained, with the spark extra

It renders the template with the default answers, installs the project with
its ``spark`` extra (``uv sync --extra spark --compile-bytecode``) and trains
once (or takes ``--project``). It writes Parquet tables of 1 row, ``--rows /
10`` and ``--rows`` rows resampled from the demo data, then predicts each
with ``predict`` (the pandas engine) and with ``predict --engine spark
--master local[2]``, one command at a time, for wall time, rows per second
and the peak memory of all the command's processes (the Python driver, the
JVM and Spark's Python workers). It checks that both engines wrote the same
predictions and times the start of a Spark session on its own. Standard
library only (with ``_common.py``); see README.md.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
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
from run import DEMO_DATA, SEED

MIN_ROWS = 100  # the middle table has a tenth of --rows, more than the 1 row
SAMPLE_INTERVAL_S = 0.1
END_GRACE_S = 10
BYTES_PER_MIB = 1024 * 1024
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
# Fields of /proc/PID/stat after the command name: process group and RSS pages.
STAT_PGRP = 2
STAT_RSS = 21
# Writes each table (path, rows) drawn with replacement from the demo data.
# pandas reads the demo CSV as the pandas engine reads a CSV; row groups of
# 100,000 rows let Spark split even the smaller table between its cores.
INPUTS_SCRIPT = """
import sys
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
demo = pa.Table.from_pandas(pd.read_csv(sys.argv[1]), preserve_index=False)
seed, block = int(sys.argv[2]), 100_000
for path, rows in zip(sys.argv[3::2], map(int, sys.argv[4::2])):
    rng = np.random.default_rng(seed)
    with pq.ParquetWriter(path, demo.schema) as writer:
        for start in range(0, rows, block):
            draw = rng.integers(0, demo.num_rows, size=min(block, rows - start))
            writer.write_table(demo.take(draw))
"""
# Prints whether two prediction outputs (a file or a directory of part
# files each) hold the same predictions in the same order.
SAME_SCRIPT = """
import sys
import pyarrow.parquet as pq
first, second = (
    pq.read_table(path, columns=["prediction"]).column(0).combine_chunks()
    for path in sys.argv[1:3]
)
print("yes" if first.equals(second.cast(first.type)) else "no")
"""
# Times the project's own spark_session(MASTER), a first job, and its stop.
SESSION_SCRIPT = """
import json
import sys
import time
start = time.perf_counter()
from {package}.workflows.spark import spark_session
imported = time.perf_counter()
spark = spark_session(sys.argv[1])
started = time.perf_counter()
spark.range(1).count()
ran = time.perf_counter()
spark.stop()
stopped = time.perf_counter()
print(json.dumps({{
    "import_s": imported - start,
    "start_s": started - imported,
    "first_job_s": ran - started,
    "stop_s": stopped - ran,
}}))
"""
VERSIONS_SCRIPT = """
import sys, importlib.metadata as m
names = ("pyspark", "mlflow", "scikit-learn", "pandas", "pyarrow")
print(sys.version.split()[0], *(f"{n} {m.version(n)}" for n in names), sep=", ")
"""


@dataclass(frozen=True)
class Bench:
    """The trained project, how commands are run, and where their files go."""

    project: Path
    env: dict[str, str]
    workdir: Path
    master: str

    @property
    def package(self) -> str:
        """The rendered project's import name."""
        return self.project.name.replace("-", "_")

    @property
    def logs(self) -> Path:
        """The folder that receives every command's output."""
        return self.workdir / "logs"

    def python(self, script: str, *arguments: str) -> str:
        """Run ``script`` with the project's python; return its standard output."""
        command = [venv_bin(self.project, "python"), "-c", script, *arguments]
        return check_output(command, self.env, self.project)

    def log(self, name: str) -> Path:
        """Return the file that receives the output of step ``name``."""
        return self.logs / f"{log_name(name)}.log"


# --------------------------------------------------------------------------
# Project and inputs


def prepare_project(workdir: Path, env: dict[str, str], uv: str) -> Path:
    """Render the default project, install it with the spark extra, train once."""
    progress("render, uv sync --extra spark --compile-bytecode, train")
    before = subdirectories(workdir)
    check_output(render_command(workdir, "init_git=no"), env, workdir)
    project = rendered_project(workdir, before)
    check_output([uv, "sync", "--extra", "spark", "--compile-bytecode"], env, project)
    check_output([venv_bin(project, project.name), "train"], env, project)
    return project


def make_inputs(bench: Bench, sizes: Sequence[int]) -> dict[int, Path]:
    """Write one Parquet table per size, resampled from the demo data.

    Returns the files by row count.
    """
    folder = bench.workdir / "inputs"
    folder.mkdir(exist_ok=True)
    inputs = {rows: folder / f"penguins_{rows}.parquet" for rows in sizes}
    pairs = [str(item) for rows, path in inputs.items() for item in (path, rows)]
    bench.python(INPUTS_SCRIPT, str(bench.project / DEMO_DATA), str(SEED), *pairs)
    return inputs


# --------------------------------------------------------------------------
# Running a command: wall time and the peak memory of its processes


def group_rss_bytes(group: int) -> int:
    """Return the resident memory of every process in process group ``group``."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path("/proc", entry, "stat").read_text(encoding="utf-8")
        except OSError:  # the process ended while we looked
            continue
        # The command name, in parentheses, may itself hold spaces.
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[STAT_PGRP]) == group:
            total += int(fields[STAT_RSS]) * PAGE_BYTES
    return total


class MemorySampler(threading.Thread):
    """Sample the summed RSS of a process group until stopped; keep the peak.

    The command starts in a session of its own, so the JVM and Spark's Python
    workers, which it starts, share its process group.
    """

    def __init__(self, group: int) -> None:
        super().__init__(daemon=True)
        self.group = group
        self.peak_bytes = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        """Sample every ``SAMPLE_INTERVAL_S`` until ``stopped`` is set."""
        while not self.stopped.wait(SAMPLE_INTERVAL_S):
            self.peak_bytes = max(self.peak_bytes, group_rss_bytes(self.group))


@dataclass(frozen=True)
class Timed:
    """Wall time and peak memory (all processes together) of one command."""

    seconds: float
    peak_mib: float


def timed(bench: Bench, name: str, command: Sequence[str]) -> Timed:
    """Run ``command`` in the project; return its wall time and peak memory.

    Raises ``StepError``, with the tail of its log, if the command failed.
    """
    log = bench.log(name)
    with log.open("wb") as output:
        start = time.perf_counter()
        process = subprocess.Popen(  # noqa: S603 (fixed argv, no shell)
            command,
            cwd=bench.project,
            env=bench.env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        sampler = MemorySampler(process.pid)
        sampler.start()
        returncode = process.wait()
        seconds = time.perf_counter() - start
        sampler.stopped.set()
        sampler.join()
    end_group(process.pid)
    if returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace")[-LOG_TAIL_CHARS:]
        raise StepError(f"{name} failed (exit {returncode}); {log}:\n{tail}")
    return Timed(seconds, sampler.peak_bytes / BYTES_PER_MIB)


def end_group(group: int) -> None:
    """Stop whatever the finished command left running in its process group.

    The JVM ends on its own shortly after its driver; one still running
    after ``END_GRACE_S`` would take memory and CPU from the next command.
    """
    deadline = time.monotonic() + END_GRACE_S
    while group_rss_bytes(group) and time.monotonic() < deadline:
        time.sleep(SAMPLE_INTERVAL_S)
    if group_rss_bytes(group):
        progress(f"stopping processes left running in group {group}")
        try:
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:  # they ended in the meantime
            return


# --------------------------------------------------------------------------
# Measurements


@dataclass(frozen=True)
class Engine:
    """One way to run ``predict``: its name in file names, label and arguments.

    File names avoid the label's brackets (``local[2]``), which Spark would
    read as a glob pattern.
    """

    name: str
    label: str
    arguments: tuple[str, ...]


@dataclass(frozen=True)
class Figures:
    """Median wall time and highest peak memory of one engine on one input."""

    seconds: float
    peak_mib: float


def engines(master: str) -> list[Engine]:
    """Return the pandas engine and the Spark engine on ``master``."""
    return [
        Engine("pandas", "pandas", ()),
        Engine("spark", f"spark {master}", ("--engine", "spark", "--master", master)),
    ]


def output_path(bench: Bench, engine: Engine, rows: int) -> Path:
    """Return where ``engine`` writes its predictions of ``rows`` rows."""
    return bench.workdir / "outputs" / f"{engine.name}_{rows}.parquet"


def predict(bench: Bench, engine: Engine, source: Path, rows: int) -> Timed:
    """Predict ``source`` with ``engine``, replacing any earlier output."""
    output = output_path(bench, engine, rows)
    if output.is_dir():
        shutil.rmtree(output)
    output.unlink(missing_ok=True)
    console = venv_bin(bench.project, bench.project.name)
    command = [console, "predict", str(source), "--output", str(output)]
    return timed(bench, f"predict {engine.name} {rows}", [*command, *engine.arguments])


def measure_engines(
    bench: Bench, inputs: dict[int, Path], repeats: int
) -> dict[tuple[str, int], Figures]:
    """Predict every input with every engine, ``repeats`` times, interleaved.

    Both engines run on one input before the next input, so that a busy
    neighbour weighs on both. Returns the figures by engine label and rows.
    """
    runs: dict[tuple[str, int], list[Timed]] = {}
    for repeat in range(1, repeats + 1):
        for rows, source in inputs.items():
            for engine in engines(bench.master):
                progress(
                    f"{engine.label}, {row_count(rows)}, run {repeat} of {repeats}"
                )
                result = predict(bench, engine, source, rows)
                runs.setdefault((engine.label, rows), []).append(result)
    return {
        key: Figures(
            statistics.median(run.seconds for run in timings),
            max(run.peak_mib for run in timings),
        )
        for key, timings in runs.items()
    }


def same_predictions(bench: Bench, rows: int) -> str:
    """Return ``yes`` if both engines wrote the same predictions of ``rows`` rows."""
    paths = [str(output_path(bench, engine, rows)) for engine in engines(bench.master)]
    return bench.python(SAME_SCRIPT, *paths).strip()


def session_times(bench: Bench) -> dict[str, float]:
    """Time ``spark_session`` of the project, a first job and ``stop``, in-process."""
    progress(f"spark_session({bench.master!r}) in one process")
    script = SESSION_SCRIPT.format(package=bench.package)
    figures = json_object(bench.python(script, bench.master).strip().splitlines()[-1])
    return {name: float(value) for name, value in figures.items()}


# --------------------------------------------------------------------------
# Report


def row_count(rows: int) -> str:
    """Return ``rows`` as words: ``1 row``, ``20,000 rows``."""
    return f"{rows:,} row{'' if rows == 1 else 's'}"


def comparison_row(label: str, pandas: float, spark: float, spec: str) -> list[str]:
    """Return one table row: a figure of both engines and spark / pandas."""
    return [label, format(pandas, spec), format(spark, spec), f"{spark / pandas:.2f}"]


def marginal_rate(small: Figures, large: Figures, extra_rows: int) -> float:
    """Return rows/s of the ``extra_rows`` the larger input adds: fixed costs cancel."""
    return extra_rows / (large.seconds - small.seconds)


def engine_table(
    bench: Bench, figures: dict[tuple[str, int], Figures], sizes: Sequence[int]
) -> str:
    """Return the side-by-side table of the two engines."""
    pandas, spark = (engine.label for engine in engines(bench.master))
    rows = []
    for size in sizes:
        first, second = figures[pandas, size], figures[spark, size]
        name = row_count(size)
        rows.append(
            comparison_row(f"{name}: wall s", first.seconds, second.seconds, ".2f")
        )
        if size > 1:
            rows.append(
                comparison_row(
                    f"{name}: rows/s",
                    size / first.seconds,
                    size / second.seconds,
                    ",.0f",
                )
            )
        rows.append(
            comparison_row(
                f"{name}: peak RSS MiB", first.peak_mib, second.peak_mib, ",.0f"
            )
        )
    small, large = sizes[-2:]
    rows.append(
        comparison_row(
            f"marginal rows/s, {small:,} -> {large:,}",
            marginal_rate(
                figures[pandas, small], figures[pandas, large], large - small
            ),
            marginal_rate(figures[spark, small], figures[spark, large], large - small),
            ",.0f",
        )
    )
    return table(["figure", pandas, spark, "spark / pandas"], rows)


def session_line(times: dict[str, float], master: str) -> str:
    """Describe the time of a Spark session's start, first job and stop."""
    parts = (
        f"import {times['import_s']:.2f} s",
        f"start {times['start_s']:.2f} s",
        f"first job {times['first_job_s']:.2f} s",
        f"stop {times['stop_s']:.2f} s",
    )
    return f"spark_session({master!r}) in one process: {', '.join(parts)}"


def header_lines(bench: Bench, inputs: dict[int, Path], repeats: int) -> list[str]:
    """Describe the machine, the versions and the inputs of this run."""
    now = datetime.datetime.now(datetime.timezone.utc)
    versions = bench.python(VERSIONS_SCRIPT).strip()
    java = subprocess.run(
        ["java", "-version"],  # noqa: S607 (the java the project finds on the PATH)
        capture_output=True,
        text=True,
        check=False,
    ).stderr.splitlines()[:1]
    sizes = ", ".join(
        f"{rows:,} ({path.stat().st_size / BYTES_PER_MIB:,.1f} MiB)"
        for rows, path in inputs.items()
    )
    return [
        machine_line("spark benchmark", now),
        f"project {bench.project.name}: Python {versions}; {' '.join(java)}",
        f"inputs: Parquet, rows resampled (seed {SEED}) from {DEMO_DATA}: {sizes}",
        f"medians of {repeats} run(s); peak RSS: the highest, all processes summed,"
        f" sampled every {SAMPLE_INTERVAL_S} s",
    ]


# --------------------------------------------------------------------------
# Main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Return the command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--project", type=Path, help="an already trained project")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    if args.project and not (args.project / "config.yaml").is_file():
        parser.error(f"--project {args.project}: not a rendered project directory")
    if args.rows < MIN_ROWS or args.repeats < 1:
        parser.error(f"--rows must be at least {MIN_ROWS}, --repeats at least 1")
    return args


def benchmark(args: argparse.Namespace, workdir: Path) -> list[str]:
    """Prepare the project, take every figure, return the report's lines."""
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise StepError("Spark needs Java 17 or newer: none found on the PATH")
    env = child_environment()
    if args.project:
        project = args.project.resolve()
    else:
        project = prepare_project(workdir, env, find_uv())
    bench = Bench(project, env, workdir, args.master)
    bench.logs.mkdir(exist_ok=True)
    (workdir / "outputs").mkdir(exist_ok=True)
    sizes = [1, args.rows // 10, args.rows]
    progress(f"write {', '.join(f'{rows:,}' for rows in sizes)} resampled rows")
    inputs = make_inputs(bench, sizes)
    figures = measure_engines(bench, inputs, args.repeats)
    same = [f"{row_count(rows)} {same_predictions(bench, rows)}" for rows in sizes]
    return [
        *header_lines(bench, inputs, args.repeats),
        engine_table(bench, figures, sizes),
        f"same predictions from both engines: {', '.join(same)}",
        session_line(session_times(bench), args.master),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, run every measurement, print the report."""
    args = parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="spark-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        lines = benchmark(args, workdir.resolve())
    except StepError as error:
        print(f"error: {error}", file=sys.stderr)
        print(f"work directory kept: {workdir}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    if not args.keep:
        shutil.rmtree(workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
