"""Time the inner loop of a project rendered from this template: one table.

Run from the repository root::

    uv run python benchmarks/inner_loop.py [--repeats 1] [--workdir DIR] [--keep]

Each repetition renders the template with the default answers into a fresh
directory, then times, each as a subprocess in the project: ``uv sync``,
every step of ``make check`` (``lock``, ``lint``, ``typecheck``, ``test``,
``test-server``, ``docs``) one by one, ``make test`` once more with the
caches warm, and once again after ``uv sync --compile-bytecode`` (what
Python's own bytecode cache gives a machine without
``PYTHONDONTWRITEBYTECODE`` from the second run on). Medians over the
repetitions are printed next to the targets of the inner loop: ``make test``
within 60 s, render to all-green within 120 s. Standard library only (with
``_common.py``); see README.md.
"""

from __future__ import annotations

import argparse
import datetime
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from _common import (
    LOG_TAIL_CHARS,
    StepError,
    Target,
    add_targets_option,
    check_output,
    child_environment,
    find_uv,
    log_name,
    machine_line,
    prepare_workdir,
    progress,
    render_command,
    rendered_project,
    subdirectories,
    table,
    write_targets,
)

MAKE_TEST_TARGET_S = 60.0
GREEN_TARGET_S = 120.0
CHECK_TARGETS = ("lock", "lint", "typecheck", "test", "test-server", "docs")
"""The prerequisites of ``make check``, in the Makefile's order."""
GREEN_STEPS = ("render", "uv sync", *(f"make {target}" for target in CHECK_TARGETS))
"""The steps from nothing to all-green, whose seconds add up to the total."""
WARM_TEST = "make test, again"
COMPILE = "uv sync --compile-bytecode"
COMPILED_TEST = "make test, compiled venv"
EXTRA_STEPS = (WARM_TEST, COMPILE, COMPILED_TEST)
"""The steps after all-green, in order; not part of its total."""
MAKE_TEST_FIGURES = (
    (WARM_TEST, "make test, warm (s)"),
    (COMPILED_TEST, "make test, warm, compiled venv (s)"),
)
"""The runs of ``make test`` judged by its target, with their names there."""


@dataclass(frozen=True)
class Timed:
    """Wall time and CPU time of one step, and whether it succeeded."""

    seconds: float
    cpu_seconds: float
    ok: bool


def children_cpu_seconds() -> float:
    """Return the user and system CPU seconds of every child reaped so far.

    A child's figure includes its own descendants that it waited for (the
    test processes of pytest-xdist, the python under ``uv run``).
    """
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(command: Sequence[str], cwd: Path, env: dict[str, str], log: Path) -> Timed:
    """Run ``command`` in ``cwd`` with its output in ``log``; time it."""
    with log.open("wb") as output:
        cpu_before = children_cpu_seconds()
        started = time.perf_counter()
        completed = subprocess.run(  # noqa: S603 (fixed argv, no shell)
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            check=False,
        )
    seconds = time.perf_counter() - started
    cpu_seconds = children_cpu_seconds() - cpu_before
    return Timed(seconds, cpu_seconds, completed.returncode == 0)


def make_environment(uv: str) -> dict[str, str]:
    """Return the commands' environment, with ``uv`` first on the PATH for make."""
    env = child_environment()
    env["PATH"] = os.pathsep.join([str(Path(uv).parent), env.get("PATH", "")])
    return env


def one_run(workdir: Path, uv: str, env: dict[str, str]) -> dict[str, Timed]:
    """Render into the empty ``workdir`` and time every step; log to ``workdir``."""
    logs = workdir / "logs"
    logs.mkdir()
    results = {}
    before = subdirectories(workdir)
    progress(f"render into {workdir}")
    render = timed(render_command(workdir), workdir, env, logs / "0-render.log")
    if not render.ok:
        tail = (logs / "0-render.log").read_text(encoding="utf-8")[-LOG_TAIL_CHARS:]
        raise StepError(f"rendering failed:\n{tail}")
    results["render"] = render
    project = rendered_project(workdir, before)
    commands = {"uv sync": [uv, "sync"]}
    commands |= {f"make {target}": ["make", target] for target in CHECK_TARGETS}
    commands[WARM_TEST] = ["make", "test"]
    commands[COMPILE] = [uv, "sync", "--compile-bytecode"]
    commands[COMPILED_TEST] = ["make", "test"]
    for number, (name, command) in enumerate(commands.items(), start=1):
        progress(name)
        log = logs / f"{number}-{log_name(name)}.log"
        results[name] = timed(command, project, env, log)
    return results


def median_seconds(runs: Sequence[dict[str, Timed]], name: str) -> float:
    """Return the median wall seconds of step ``name`` over ``runs``."""
    return statistics.median(run[name].seconds for run in runs)


def median_cpu(runs: Sequence[dict[str, Timed]], name: str) -> str:
    """Return the median CPU seconds of step ``name`` over ``runs``, formatted."""
    return f"{statistics.median(run[name].cpu_seconds for run in runs):.1f}"


def all_ok(runs: Sequence[dict[str, Timed]], names: Sequence[str]) -> bool:
    """Return whether every step in ``names`` succeeded in every run."""
    return all(run[name].ok for run in runs for name in names)


def judged(seconds: float, target: float, ok: bool) -> str:
    """Format ``seconds`` against the target; a failed step never meets it."""
    verdict = "ok" if ok and seconds <= target else "MISS"
    return f"{seconds:.1f} {verdict}"


def step_row(runs: Sequence[dict[str, Timed]], name: str) -> tuple[str, ...]:
    """Return the row of step ``name``: ``make test`` is judged by its target."""
    ok = all_ok(runs, [name])
    seconds = median_seconds(runs, name)
    result = "ok" if ok else "FAILED"
    cpu = median_cpu(runs, name)
    if name not in ("make test", WARM_TEST, COMPILED_TEST):
        return (name, f"{seconds:.1f}", cpu, result, "")
    target = f"<= {MAKE_TEST_TARGET_S:.0f} s"
    return (name, judged(seconds, MAKE_TEST_TARGET_S, ok), cpu, result, target)


def green_total(runs: Sequence[dict[str, Timed]]) -> float:
    """Return the median over ``runs`` of the seconds from nothing to all-green."""
    return statistics.median(
        sum(run[name].seconds for name in GREEN_STEPS) for run in runs
    )


def make_test_target(runs: Sequence[dict[str, Timed]], name: str, label: str) -> Target:
    """Return the target of the ``make test`` run ``name``, labelled ``label``."""
    seconds = median_seconds(runs, name)
    return Target(
        label,
        f"{seconds:.1f}",
        f"<= {MAKE_TEST_TARGET_S:.0f}",
        all_ok(runs, [name]) and seconds <= MAKE_TEST_TARGET_S,
    )


def judged_targets(runs: Sequence[dict[str, Timed]]) -> list[Target]:
    """Return the targets: a warm ``make test`` (as synced, compiled), all-green."""
    total = green_total(runs)
    return [
        *(make_test_target(runs, name, label) for name, label in MAKE_TEST_FIGURES),
        Target(
            "render, uv sync, make check: all green (s)",
            f"{total:.1f}",
            f"<= {GREEN_TARGET_S:.0f}",
            all_ok(runs, GREEN_STEPS) and total <= GREEN_TARGET_S,
        ),
    ]


def report_table(runs: Sequence[dict[str, Timed]]) -> str:
    """Return the table: each step's median, the all-green total, the targets."""
    rows = [step_row(runs, name) for name in GREEN_STEPS]
    total = green_total(runs)
    total_cpu = statistics.median(
        sum(run[name].cpu_seconds for name in GREEN_STEPS) for run in runs
    )
    green = all_ok(runs, GREEN_STEPS)
    rows.append(
        (
            "render to all-green (sum of the above)",
            judged(total, GREEN_TARGET_S, green),
            f"{total_cpu:.1f}",
            "all green" if green else "NOT green",
            f"<= {GREEN_TARGET_S:.0f} s",
        )
    )
    rows.extend(step_row(runs, name) for name in EXTRA_STEPS)
    return table(("step", "wall s", "CPU s", "result", "target"), rows)


def header_lines(uv: str, env: dict[str, str], repeats: int) -> list[str]:
    """Describe the machine, its load at the start, the tools and the settings."""
    now = datetime.datetime.now().astimezone()
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    flags = ", ".join(
        f"{name}={env.get(name, '(unset)')}"
        for name in ("PYTHONDONTWRITEBYTECODE", "UV_COMPILE_BYTECODE")
    )
    uv_version = check_output([uv, "--version"], env).strip()
    return [
        machine_line("ml-template inner loop", now),
        f"CPUs: {os.cpu_count()}; load average at start (1, 5, 15 min): {load}",
        f"{uv_version}; {flags}; repeats {repeats} (medians)",
    ]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Return the command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1, help="fresh renders")
    parser.add_argument("--workdir", type=Path, help="empty or new directory")
    parser.add_argument("--keep", action="store_true", help="keep the work dir")
    add_targets_option(parser)
    options = parser.parse_args(argv)
    if options.repeats < 1:
        parser.error("need --repeats >= 1")
    return options


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the report; return the exit status.

    The work directory is removed unless ``--keep`` is given or a step
    raised; a step that only failed is reported as ``FAILED``.
    """
    options = parse_args(argv)
    try:
        if shutil.which("make") is None:
            raise StepError("make not found on the PATH")
        workdir, created = prepare_workdir(options.workdir, "ml-template-inner-loop-")
        uv = find_uv()
        env = make_environment(uv)
        header = header_lines(uv, env, options.repeats)
        runs = []
        for number in range(options.repeats):
            run_dir = workdir / f"run-{number + 1}"
            run_dir.mkdir()
            runs.append(one_run(run_dir, uv, env))
    except StepError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    if options.keep:
        progress(f"kept {workdir}")
    elif created:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        for path in subdirectories(workdir):
            shutil.rmtree(path, ignore_errors=True)
    print("\n".join([*header, "", report_table(runs)]))
    write_targets(options.targets, judged_targets(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
