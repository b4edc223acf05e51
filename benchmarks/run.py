"""Benchmark a project rendered from this template, and print one table.

Run from the repository root::

    uv run python benchmarks/run.py [--rows 1000000] [--workdir DIR] [--keep]

It renders the template with the default answers, then measures, each in a
subprocess: render to all-green (render, ``uv sync``, pytest, ruff, black),
CLI start-up (``--help`` against ``python -c pass``), ``train`` on the bundled
data, and batch prediction of ``--rows`` and ``--rows / 10`` resampled rows by
the CLI against ``pipeline.predict`` in one process. If ``uv sync`` left no
bytecode in the environment, the runtime figures are taken again after
``uv sync --compile-bytecode``. Standard library only (with ``_common.py``);
see README.md.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import itertools
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from _common import (
    LOG_TAIL_CHARS,
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
    prepare_workdir,
    progress,
    render_command,
    rendered_project,
    subdirectories,
    table,
    venv_bin,
    write_targets,
)

HELPER = Path(__file__).resolve().with_name("inprocess_predict.py")
DEMO_DATA = Path("data", "penguins.csv")
SEED = 20261123
HELP_TARGET_S = 0.15
FLAT_MEMORY_LIMIT = 1.10
# Batch prediction against `mlflow models predict` (issue 16).
PEER_SPEEDUP_TARGET = 1.5
PEER_MEMORY_TARGET = 0.5
MIN_ROWS = 20


# --------------------------------------------------------------------------
# Running commands


@dataclass(frozen=True)
class Child:
    """Wall time, peak resident memory and exit code of a finished subprocess."""

    seconds: float
    peak_mb: float
    returncode: int


@dataclass
class Context:
    """Where things are and how commands are run."""

    workdir: Path
    uv: str
    env: dict[str, str]
    logs: Path
    project: Path = Path()  # set by render()
    counter: Iterator[int] = field(default_factory=itertools.count)

    @property
    def slug(self) -> str:
        """The rendered project's slug: its directory and command name."""
        return self.project.name

    def venv_bin(self, name: str) -> str:
        """Return the path of executable ``name`` in the project's venv."""
        return venv_bin(self.project, name)


def spawn(command: Sequence[str], cwd: Path, env: dict[str, str], log: Path) -> Child:
    """Run ``command`` with output to ``log``; return its time and peak RSS.

    ``os.wait4`` reaps the child and returns the resource usage of that one
    process, so ``ru_maxrss`` (KiB on Linux) is its own peak, not a maximum
    over every child this script has run.
    """
    with log.open("wb") as output:
        start = time.perf_counter()
        process = subprocess.Popen(  # noqa: S603 (fixed argv, no shell)
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    return Child(seconds, usage.ru_maxrss / 1024, process.returncode)


def run(
    ctx: Context,
    name: str,
    command: Sequence[str],
    *,
    cwd: Path | None = None,
    check: bool = True,
) -> Child:
    """Run ``command`` in ``cwd`` (default: the project), output to a log file.

    Raises ``StepError`` if ``check`` and the command failed.
    """
    log = ctx.logs / f"{next(ctx.counter):03d}-{log_name(name)}.log"
    child = spawn(command, cwd or ctx.project, ctx.env, log)
    if check and child.returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace")[-LOG_TAIL_CHARS:]
        raise StepError(f"{name} failed (exit {child.returncode}); {log}:\n{tail}")
    return child


# --------------------------------------------------------------------------
# 1. Render to all-green


@dataclass(frozen=True)
class Step:
    """One timed step of rendering a project and making it green."""

    name: str
    seconds: float
    ok: bool


def render(ctx: Context) -> Step:
    """Render the template with default answers; point ``ctx`` at the project."""
    before = subdirectories(ctx.workdir)
    child = run(ctx, "render", render_command(ctx.workdir), cwd=ctx.workdir)
    ctx.project = rendered_project(ctx.workdir, before)
    return Step("render (cookiecutter --no-input)", child.seconds, ok=True)


def sync_environment(ctx: Context) -> Step:
    """Create the project's environment with ``uv sync``, timed."""
    child = run(ctx, "uv sync", [ctx.uv, "sync"])
    return Step("uv sync (lock + create .venv)", child.seconds, ok=True)


def run_checks(ctx: Context) -> list[Step]:
    """Run the tests and the linters through ``uv run``, timing each."""
    checks = {
        "uv run pytest -q": ["pytest", "-q"],
        "uv run ruff check .": ["ruff", "check", "."],
        "uv run black --check .": ["black", "--check", "."],
    }
    steps = []
    for name, arguments in checks.items():
        progress(name)
        child = run(ctx, name, [ctx.uv, "run", *arguments], check=False)
        steps.append(Step(name, child.seconds, ok=child.returncode == 0))
    return steps


def compile_bytecode(ctx: Context) -> list[Step]:
    """Compile the venv's bytecode with uv, then time pytest again."""
    progress("uv sync --compile-bytecode")
    name = "uv sync --compile-bytecode"
    child = run(ctx, name, [ctx.uv, "sync", "--compile-bytecode"])
    steps = [Step(name, child.seconds, ok=True)]
    progress("uv run pytest -q, compiled venv")
    child = run(ctx, "uv run pytest -q", [ctx.uv, "run", "pytest", "-q"], check=False)
    steps.append(
        Step("uv run pytest -q, compiled venv", child.seconds, child.returncode == 0)
    )
    return steps


def count_pyc(ctx: Context) -> int:
    """Return how many compiled bytecode files the project's venv holds."""
    return sum(1 for _ in (ctx.project / ".venv").rglob("*.pyc"))


# --------------------------------------------------------------------------
# Inputs


def resample_csv(source: Path, target: Path, rows: int, seed: int) -> None:
    """Write ``rows`` data lines drawn with replacement from ``source``.

    Lines are copied verbatim, so the missing values (``NA``) of the bundled
    data stay in; the header is kept and the draw is reproducible.
    """
    lines = source.read_text(encoding="utf-8").splitlines()
    header, body = lines[0], [line for line in lines[1:] if line.strip()]
    rng = random.Random(seed)  # noqa: S311 (reproducible sampling, not security)
    with target.open("w", encoding="utf-8", newline="\n") as output:
        output.write(header + "\n")
        for start in range(0, rows, 100_000):
            block = rng.choices(body, k=min(100_000, rows - start))
            output.write("\n".join(block) + "\n")


def make_inputs(workdir: Path, project: Path, sizes: Sequence[int]) -> dict[int, Path]:
    """Write one CSV per size under ``workdir``, resampled from ``project``'s demo data.

    Returns the files by row count.
    """
    folder = workdir / "inputs"
    folder.mkdir(exist_ok=True)
    inputs = {}
    for rows in sizes:
        inputs[rows] = folder / f"penguins_{rows}.csv"
        resample_csv(project / DEMO_DATA, inputs[rows], rows, SEED)
    return inputs


# --------------------------------------------------------------------------
# 2-4. Runtime figures


@dataclass(frozen=True)
class InProcess:
    """Timings of one in-process prediction run, from the helper."""

    rows: int
    import_s: float
    load_s: float
    read_s: float
    predict_s: float
    elapsed_s: float
    peak_mb: float
    matches_cli: bool | None


@dataclass
class Runtime:
    """Start-up, training and prediction figures for one state of the venv."""

    label: str
    pyc_files: int
    pass_s: float = 0.0
    help_s: float = 0.0
    train_s: list[float] = field(default_factory=list)
    cli: dict[int, list[Child]] = field(default_factory=dict)
    inproc: dict[int, list[InProcess]] = field(default_factory=dict)

    def cli_seconds(self, rows: int) -> float:
        """Median wall time of the CLI predicting ``rows`` rows."""
        return statistics.median(child.seconds for child in self.cli[rows])

    def cli_spread(self, rows: int) -> str:
        """Fastest and slowest wall time of the CLI predicting ``rows`` rows."""
        seconds = [child.seconds for child in self.cli[rows]]
        return f"{min(seconds):.2f}-{max(seconds):.2f}"

    def cli_peak_mb(self, rows: int) -> float:
        """Highest peak RSS of the CLI predicting ``rows`` rows."""
        return max(child.peak_mb for child in self.cli[rows])

    def inproc_median(self, rows: int, name: str) -> float:
        """Median of field ``name`` of the in-process runs on ``rows`` rows."""
        runs = self.inproc[rows]
        return statistics.median(float(getattr(each, name)) for each in runs)

    def matches(self) -> bool:
        """Whether every in-process run predicted exactly what the CLI wrote."""
        runs = [run for runs in self.inproc.values() for run in runs]
        return all(run.matches_cli for run in runs)


def time_startup(ctx: Context, runs: int) -> tuple[float, float]:
    """Return the median seconds of ``python -c pass`` and ``<slug> --help``.

    The two commands alternate, after one unmeasured run of each.
    """
    commands = {
        "pass": [ctx.venv_bin("python"), "-c", "pass"],
        "help": [ctx.venv_bin(ctx.slug), "--help"],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs + 1):
        for name, command in commands.items():
            times[name].append(run(ctx, f"startup {name}", command).seconds)
    return statistics.median(times["pass"][1:]), statistics.median(times["help"][1:])


def time_train(ctx: Context, repeats: int) -> list[float]:
    """Train ``repeats`` times with the console script; return each wall time."""
    command = [ctx.venv_bin(ctx.slug), "train"]
    return [run(ctx, "train", command).seconds for _ in range(repeats)]


def cli_predict(ctx: Context, source: Path, output: Path) -> Child:
    """Predict ``source`` with the console script (default chunk size)."""
    command = [ctx.venv_bin(ctx.slug), "predict", str(source), "--output", str(output)]
    return run(ctx, "cli predict", command)


def inprocess_predict(ctx: Context, source: Path, expected: Path) -> InProcess:
    """Predict ``source`` in one process with the helper; return its figures."""
    report = ctx.workdir / "inprocess.json"
    command = [
        ctx.venv_bin("python"),
        str(HELPER),
        f"--input={source}",
        f"--model-uri={champion_uri(ctx.slug)}",
        f"--tracking-uri={TRACKING_URI}",
        "--config=config.yaml",
        f"--expected={expected}",
        f"--json={report}",
    ]
    run(ctx, "in-process predict", command)
    return InProcess(**json_object(report.read_text(encoding="utf-8")))


def time_predictions(
    ctx: Context, runtime: Runtime, inputs: dict[int, Path], repeats: int
) -> None:
    """Predict every input with the CLI, then in-process, ``repeats`` times."""
    for _ in range(repeats):
        for rows, source in sorted(inputs.items()):
            output = ctx.workdir / f"predictions_{rows}.csv"
            runtime.cli.setdefault(rows, []).append(cli_predict(ctx, source, output))
            measured = inprocess_predict(ctx, source, output)
            runtime.inproc.setdefault(rows, []).append(measured)


def measure_runtime(
    ctx: Context, label: str, inputs: dict[int, Path], options: argparse.Namespace
) -> Runtime:
    """Take the start-up, training and prediction figures of the venv as it is."""
    runtime = Runtime(label, count_pyc(ctx))
    progress(f"{label}: start-up, {options.help_runs} runs each")
    runtime.pass_s, runtime.help_s = time_startup(ctx, options.help_runs)
    progress(f"{label}: train x{options.repeats}")
    runtime.train_s = time_train(ctx, options.repeats)
    progress(f"{label}: predict {sorted(inputs)} rows x{options.repeats}")
    time_predictions(ctx, runtime, inputs, options.repeats)
    return runtime


# --------------------------------------------------------------------------
# 5. Batch prediction against `mlflow models predict`


@dataclass
class PeerRuns:
    """``predict`` and ``mlflow models predict`` on the same inputs, by row count."""

    ours: dict[int, list[Child]] = field(default_factory=dict)
    theirs: dict[int, list[Child]] = field(default_factory=dict)
    same_predictions: bool = True

    def seconds(self, tool: str, rows: int) -> float:
        """Median wall time of ``tool`` ("ours" or "theirs") on ``rows`` rows."""
        runs: dict[int, list[Child]] = getattr(self, tool)
        return statistics.median(child.seconds for child in runs[rows])

    def peak_mb(self, tool: str, rows: int) -> float:
        """Highest peak RSS of ``tool`` on ``rows`` rows."""
        runs: dict[int, list[Child]] = getattr(self, tool)
        return max(child.peak_mb for child in runs[rows])


def mlflow_predict(ctx: Context, source: Path, output: Path) -> Child:
    """Predict ``source`` as a user without the project would: whole file at once."""
    command = [
        ctx.venv_bin("mlflow"),
        "models",
        "predict",
        f"--model-uri={champion_uri(ctx.slug)}",
        f"--input-path={source}",
        "--content-type=csv",
        f"--output-path={output}",
        "--env-manager=local",
    ]
    env = {**ctx.env, "MLFLOW_TRACKING_URI": TRACKING_URI}
    log = ctx.logs / f"{next(ctx.counter):03d}-mlflow-models-predict.log"
    child = spawn(command, ctx.project, env, log)
    if child.returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace")[-LOG_TAIL_CHARS:]
        raise StepError(f"mlflow models predict failed; {log}:\n{tail}")
    return child


def same_predictions(ours: Path, theirs: Path) -> bool:
    """Whether our CSV's prediction column equals MLflow's JSON predictions.

    Numbers are compared as numbers, since CSV and JSON spell them differently.
    """
    with ours.open(encoding="utf-8", newline="") as lines:
        written = [row["prediction"] for row in csv.DictReader(lines)]
    predictions = json_object(theirs.read_text(encoding="utf-8"))["predictions"]
    if len(written) != len(predictions):
        return False
    return all(
        mine == str(other) if isinstance(other, str) else float(mine) == other
        for mine, other in zip(written, predictions, strict=True)
    )


def one_row_input(workdir: Path, project: Path) -> Path:
    """Write a one-row CSV that both tools score: its fixed cost, nearly alone.

    Whole numbers are written as decimals ("181.0"): pandas reads a column of
    whole numbers as integers, which MLflow's schema check refuses for a
    decimal feature (``predict`` converts them), and ``mlflow models
    predict`` would fail.
    """
    lines = (project / DEMO_DATA).read_text(encoding="utf-8").splitlines()
    complete = next(line for line in lines[1:] if ",NA" not in line)
    fields = [
        f"{field}.0" if field.isdigit() else field for field in complete.split(",")
    ]
    target = workdir / "inputs" / "penguins_1.csv"
    target.parent.mkdir(exist_ok=True)
    target.write_text(f"{lines[0]}\n{','.join(fields)}\n", encoding="utf-8")
    return target


def time_against_peer(ctx: Context, inputs: dict[int, Path], repeats: int) -> PeerRuns:
    """Predict each input with ``predict`` and ``mlflow models predict`` in turn."""
    peer = PeerRuns()
    for _ in range(repeats):
        for rows, source in sorted(inputs.items()):
            ours = ctx.workdir / f"peer_ours_{rows}.csv"
            theirs = ctx.workdir / f"peer_theirs_{rows}.json"
            peer.ours.setdefault(rows, []).append(cli_predict(ctx, source, ours))
            child = mlflow_predict(ctx, source, theirs)
            peer.theirs.setdefault(rows, []).append(child)
            peer.same_predictions &= same_predictions(ours, theirs)
    return peer


def rows_label(count: int) -> str:
    """Return "1 row" or "100,000 rows"."""
    return f"{count:,} row" if count == 1 else f"{count:,} rows"


def peer_table(peer: PeerRuns, big: int, small: int) -> str:
    """Return the side-by-side table with each target next to its figure.

    The wall-time ratio is MLflow's time over ours (how many times faster
    ``predict`` is); the memory ratio is our peak over MLflow's.
    """
    rows: list[tuple[str, str, str, str, str]] = []
    for count in sorted(peer.ours):
        ours, theirs = peer.seconds("ours", count), peer.seconds("theirs", count)
        speedup = theirs / ours
        judgement = judged(speedup, ".2f", speedup >= PEER_SPEEDUP_TARGET)
        rows.append(
            (
                f"{rows_label(count)}: wall (s); mlflow / predict",
                f"{ours:.2f}",
                f"{theirs:.2f}",
                judgement if count == big else f"{speedup:.2f}",
                f">= {PEER_SPEEDUP_TARGET}" if count == big else "",
            )
        )
    for count in sorted(peer.ours):
        ours, theirs = peer.peak_mb("ours", count), peer.peak_mb("theirs", count)
        share = ours / theirs
        judgement = judged(share, ".2f", share <= PEER_MEMORY_TARGET)
        rows.append(
            (
                f"{rows_label(count)}: peak RSS (MiB); predict / mlflow",
                f"{ours:.0f}",
                f"{theirs:.0f}",
                judgement if count == big else f"{share:.2f}",
                f"<= {PEER_MEMORY_TARGET}" if count == big else "",
            )
        )
    growth = peer.peak_mb("ours", big) / peer.peak_mb("ours", small)
    theirs_growth = peer.peak_mb("theirs", big) / peer.peak_mb("theirs", small)
    rows.append(
        (
            f"peak RSS {big:,} / {small:,} (x)",
            judged(growth, ".2f", growth <= FLAT_MEMORY_LIMIT),
            f"{theirs_growth:.2f}",
            "",
            f"<= {FLAT_MEMORY_LIMIT}",
        )
    )
    same = "yes" if peer.same_predictions else "NO"
    rows.append(("predictions equal in every run", same, "", "", ""))
    header = ("figure", "predict", "mlflow models predict", "ratio", "target")
    return table(header, rows)


# --------------------------------------------------------------------------
# Report

Row = tuple[str, str, str]
"""A table row of the runtime section: label, value, target."""


@dataclass
class Report:
    """Everything measured, ready to print."""

    header: list[str]
    steps: list[Step]
    synced_pyc: int
    runtimes: list[Runtime]
    big: int
    small: int
    help_runs: int
    compiled_steps: list[Step] = field(default_factory=list)
    peer: PeerRuns | None = None


def judged(value: float, spec: str, ok: bool) -> str:
    """Format ``value`` and mark whether it meets its target."""
    return f"{value:{spec}} {'ok' if ok else 'MISS'}"


def startup_rows(r: Runtime, slug: str, runs: int) -> list[Row]:
    """Rows of the CLI start-up figures."""
    help_ok = r.help_s <= HELP_TARGET_S
    return [
        (".pyc files in .venv", f"{r.pyc_files:,}", ""),
        (f"python -c pass, median of {runs} (s)", f"{r.pass_s:.3f}", ""),
        (
            f"{slug} --help, median of {runs} (s)",
            judged(r.help_s, ".3f", help_ok),
            f"<= {HELP_TARGET_S}",
        ),
        ("--help minus python -c pass (s)", f"{r.help_s - r.pass_s:.3f}", ""),
    ]


def train_rows(r: Runtime) -> list[Row]:
    """Rows of the training figures."""
    each = ", ".join(f"{seconds:.1f}" for seconds in r.train_s)
    median = statistics.median(r.train_s)
    return [
        ("train, runs in order (s)", each, ""),
        ("train, median (s)", f"{median:.2f}", ""),
    ]


def cli_rows(r: Runtime, rows: int) -> list[Row]:
    """Rows of the CLI prediction figures for the ``rows``-row input."""
    seconds = r.cli_seconds(rows)
    return [
        (f"CLI predict {rows:,}: wall (s)", f"{seconds:.2f}", ""),
        (f"CLI predict {rows:,}: wall min-max (s)", r.cli_spread(rows), ""),
        (f"CLI predict {rows:,}: rows/s", f"{rows / seconds:,.0f}", ""),
        (f"CLI predict {rows:,}: peak RSS (MiB)", f"{r.cli_peak_mb(rows):.0f}", ""),
    ]


def inproc_rows(r: Runtime, rows: int) -> list[Row]:
    """Rows of the in-process prediction figures for the ``rows``-row input."""
    parts = [r.inproc_median(rows, name) for name in ("import_s", "load_s", "read_s")]
    predict = r.inproc_median(rows, "predict_s")
    steps = " / ".join(f"{seconds:.2f}" for seconds in [*parts, predict])
    label = f"in-process {rows:,}"
    return [
        (f"{label}: import/load/read/predict (s)", steps, ""),
        (f"{label}: predict only, rows/s", f"{rows / predict:,.0f}", ""),
        (f"{label}: read + predict, rows/s", f"{rows / (parts[2] + predict):,.0f}", ""),
        (
            f"{label}: start to predicted (s)",
            f"{r.inproc_median(rows, 'elapsed_s'):.2f}",
            "",
        ),
        (f"{label}: peak RSS (MiB)", f"{r.inproc_median(rows, 'peak_mb'):.0f}", ""),
    ]


def marginal_rate(r: Runtime, big: int, small: int) -> float | None:
    """CLI rows/s between the two input sizes: fixed start-up costs cancel."""
    extra_seconds = r.cli_seconds(big) - r.cli_seconds(small)
    return (big - small) / extra_seconds if extra_seconds > 0 else None


def comparison_rows(r: Runtime, big: int, small: int) -> list[Row]:
    """Rows comparing the CLI with in-process prediction, and memory growth."""
    cli_rate = big / r.cli_seconds(big)
    predict_rate = big / r.inproc_median(big, "predict_s")
    read_s = r.inproc_median(big, "read_s")
    read_predict_rate = big / (read_s + r.inproc_median(big, "predict_s"))
    whole = r.inproc_median(big, "elapsed_s") / r.cli_seconds(big)
    ratio = cli_rate / predict_rate
    memory = r.cli_peak_mb(big) / r.cli_peak_mb(small)
    marginal = marginal_rate(r, big, small)
    marginal_text = "n/a" if marginal is None else f"{marginal:,.0f}"
    marginal_ratio = "n/a" if marginal is None else f"{marginal / predict_rate:.2f}"
    return [
        ("CLI / in-process predict only (x)", f"{ratio:.2f}", ""),
        (
            "CLI / in-process read + predict (x)",
            f"{cli_rate / read_predict_rate:.2f}",
            "",
        ),
        ("CLI / in-process start to predicted (x)", f"{whole:.2f}", ""),
        (f"CLI marginal rows/s, {small:,} -> {big:,}", marginal_text, ""),
        ("CLI marginal / in-process predict only (x)", marginal_ratio, ""),
        (
            f"CLI peak RSS {big:,} / {small:,} (x)",
            judged(memory, ".2f", memory <= FLAT_MEMORY_LIMIT),
            f"<= {FLAT_MEMORY_LIMIT}",
        ),
        ("in-process predictions == CLI output", "yes" if r.matches() else "NO", ""),
    ]


def runtime_rows(r: Runtime, report: Report, slug: str) -> list[Row]:
    """All rows of the runtime table for one state of the venv."""
    big, small = report.big, report.small
    return [
        *startup_rows(r, slug, report.help_runs),
        *train_rows(r),
        *cli_rows(r, small),
        *cli_rows(r, big),
        *inproc_rows(r, small),
        *inproc_rows(r, big),
        *comparison_rows(r, big, small),
    ]


def setup_table(report: Report) -> str:
    """Return the render-to-all-green table, with the total."""
    rows = [
        (s.name, f"{s.seconds:.1f}", "ok" if s.ok else "FAILED") for s in report.steps
    ]
    green = all(step.ok for step in report.steps)
    total = sum(step.seconds for step in report.steps)
    rows.append(("total", f"{total:.1f}", "all green" if green else "NOT green"))
    if report.compiled_steps:
        rows += [
            (f"(extra) {s.name}", f"{s.seconds:.1f}", "ok" if s.ok else "FAILED")
            for s in report.compiled_steps
        ]
        rows.append(("total had uv sync compiled bytecode", *compiled_total(report)))
    return table(("step", "seconds", "result"), rows)


def compiled_total(report: Report) -> tuple[str, str]:
    """Return the all-green total with the bytecode compile and compiled pytest.

    That is the total a project with ``[tool.uv] compile-bytecode = true``
    would see: the same steps, plus the compilation, with pytest timed in
    the compiled environment.
    """
    pytest_name = "uv run pytest -q"
    kept = [step for step in report.steps if step.name != pytest_name]
    steps = [*kept, *report.compiled_steps]
    total = sum(step.seconds for step in steps)
    return f"{total:.1f}", "all green" if all(s.ok for s in steps) else "NOT green"


def runtime_table(report: Report, slug: str) -> str:
    """Return the start-up, train and prediction table, a column per venv state."""
    columns = [runtime_rows(r, report, slug) for r in report.runtimes]
    rows = []
    for cells in zip(*columns, strict=True):
        label, _, target = cells[0]
        rows.append((label, *(cell[1] for cell in cells), target))
    header = ("figure", *(r.label for r in report.runtimes), "target")
    return table(header, rows)


def render_report(report: Report, slug: str) -> str:
    """Return the whole report as text."""
    return "\n".join(
        [
            *report.header,
            "",
            "1. Render to all-green (warm uv cache)",
            setup_table(report),
            f".pyc files in .venv right after uv sync: {report.synced_pyc:,}",
            "",
            "2-4. CLI start-up, train, batch prediction (medians; peak RSS = max)",
            runtime_table(report, slug),
            "",
            "The first train run of the first column created mlflow.db.",
            *peer_section(report),
        ]
    )


def judged_targets(report: Report, slug: str) -> list[Target]:
    """Return the targets of this run: start-up, and batch prediction against MLflow.

    The start-up figure is the last column's: the compiled environment, if
    ``uv sync`` left none.
    """
    help_s = report.runtimes[-1].help_s
    targets = [
        Target(
            f"{slug} --help (s)",
            f"{help_s:.3f}",
            f"<= {HELP_TARGET_S}",
            help_s <= HELP_TARGET_S,
        )
    ]
    peer = report.peer
    if peer is None:
        return targets
    big, small = report.big, report.small
    speedup = peer.seconds("theirs", big) / peer.seconds("ours", big)
    share = peer.peak_mb("ours", big) / peer.peak_mb("theirs", big)
    growth = peer.peak_mb("ours", big) / peer.peak_mb("ours", small)
    return [
        *targets,
        Target(
            f"mlflow models predict / predict, wall, {big:,} rows (x)",
            f"{speedup:.2f}",
            f">= {PEER_SPEEDUP_TARGET}",
            speedup >= PEER_SPEEDUP_TARGET,
        ),
        Target(
            f"predict / mlflow models predict, peak RSS, {big:,} rows (x)",
            f"{share:.2f}",
            f"<= {PEER_MEMORY_TARGET}",
            share <= PEER_MEMORY_TARGET,
        ),
        Target(
            f"predict peak RSS, {big:,} / {small:,} rows (x)",
            f"{growth:.2f}",
            f"<= {FLAT_MEMORY_LIMIT}",
            growth <= FLAT_MEMORY_LIMIT,
        ),
        Target(
            "predict and mlflow models predict agree in every run",
            "yes" if peer.same_predictions else "no",
            "yes",
            peer.same_predictions,
        ),
    ]


def peer_section(report: Report) -> list[str]:
    """Return section 5's lines, or none if it was not measured."""
    if report.peer is None:
        return []
    return [
        "",
        "5. Batch prediction: predict against mlflow models predict --env-manager"
        " local (medians; peak RSS = max; last venv state; 1 row = fixed cost)",
        peer_table(report.peer, report.big, report.small),
    ]


# --------------------------------------------------------------------------
# Main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Return the command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="large input")
    parser.add_argument("--workdir", type=Path, help="empty or new directory")
    parser.add_argument("--keep", action="store_true", help="keep the work dir")
    parser.add_argument("--repeats", type=int, default=3, help="train/predict runs")
    parser.add_argument("--help-runs", type=int, default=15, help="start-up runs")
    add_targets_option(parser)
    options = parser.parse_args(argv)
    options.small = options.rows // 10
    if options.rows < MIN_ROWS or options.repeats < 1 or options.help_runs < 1:
        parser.error(f"need --rows >= {MIN_ROWS}, --repeats >= 1 and --help-runs >= 1")
    return options


def clean_up(workdir: Path, created: bool) -> None:
    """Delete the work directory, or only its contents if it was given."""
    if created:
        shutil.rmtree(workdir, ignore_errors=True)
        return
    for path in workdir.iterdir():
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink()


def header_lines(ctx: Context, options: argparse.Namespace) -> list[str]:
    """Describe the machine, the tools and the settings of this run."""
    versions = check_output(
        [
            ctx.venv_bin("python"),
            "-c",
            "import sys, importlib.metadata as m; print(sys.version.split()[0], "
            "*(f'{n} {m.version(n)}' for n in "
            "('mlflow', 'scikit-learn', 'pandas')), sep=', ')",
        ],
        ctx.env,
    ).strip()
    uv_version = check_output([ctx.uv, "--version"], ctx.env).strip()
    now = datetime.datetime.now().astimezone()
    flags = ", ".join(
        f"{name}={ctx.env.get(name, '(unset)')}"
        for name in (
            "PYTHONDONTWRITEBYTECODE",
            "UV_COMPILE_BYTECODE",
            "UV_PYTHON_DOWNLOADS",
        )
    )
    return [
        machine_line("ml-template benchmarks", now),
        f"project {ctx.slug}: Python {versions}; {uv_version}",
        f"environment: {flags}",
        f"inputs: {options.small:,} and {options.rows:,} rows resampled (seed {SEED}) "
        f"from {DEMO_DATA}; repeats {options.repeats}",
    ]


def benchmark(ctx: Context, options: argparse.Namespace) -> Report:
    """Render, make green, then take the runtime figures (twice if no bytecode)."""
    progress(f"render into {ctx.workdir}")
    steps = [render(ctx)]
    progress("uv sync")
    steps.append(sync_environment(ctx))
    synced_pyc = count_pyc(ctx)
    steps += run_checks(ctx)
    inputs = make_inputs(ctx.workdir, ctx.project, (options.small, options.rows))
    report = Report(
        header_lines(ctx, options),
        steps,
        synced_pyc,
        [measure_runtime(ctx, "as synced", inputs, options)],
        options.rows,
        options.small,
        options.help_runs,
    )
    if synced_pyc == 0:
        report.compiled_steps = compile_bytecode(ctx)
        label = "after --compile-bytecode"
        report.runtimes.append(measure_runtime(ctx, label, inputs, options))
    progress(f"predict against mlflow models predict x{options.repeats}")
    one_row = {1: one_row_input(ctx.workdir, ctx.project)}
    report.peer = time_against_peer(ctx, {**one_row, **inputs}, options.repeats)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the report; return the exit status.

    The work directory is removed unless ``--keep`` is given or a step failed.
    """
    options = parse_args(argv)
    try:
        workdir, created = prepare_workdir(options.workdir, "ml-template-bench-")
        ctx = Context(workdir, find_uv(), child_environment(), workdir / "logs")
        ctx.logs.mkdir()
        report = benchmark(ctx, options)
    except StepError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    if options.keep:
        progress(f"kept {workdir}")
    else:
        clean_up(workdir, created)
    print(render_report(report, ctx.slug))
    write_targets(options.targets, judged_targets(report, ctx.slug))
    return 0


if __name__ == "__main__":
    sys.exit(main())
