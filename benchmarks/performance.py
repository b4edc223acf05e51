"""Run every performance benchmark in turn; print each target next to its figure.

Run from the repository root::

    uv run python benchmarks/performance.py [--workdir DIR] [--keep]

It runs, each as a subprocess of this interpreter and each on a project it
renders itself: ``inner_loop.py`` (render to all-green, ``make test``),
``run.py`` (start-up, ``train``, batch ``predict`` against ``mlflow models
predict``) and ``serving.py`` (``serve`` against ``mlflow models serve`` under
``hey``). Their own reports are printed as they finish; a last table gathers
the targets each script judged, so that one run shows every figure of the
performance work next to its goal. Standard library only (with
``_common.py``); see README.md.
"""

from __future__ import annotations

import argparse
import datetime
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from _common import Target, machine_line, progress, read_targets, table

HERE = Path(__file__).resolve().parent
SCRIPTS = ("inner_loop.py", "run.py", "serving.py")
"""The benchmarks run, in this order: the quickest to fail first."""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="keep each benchmark's work directory below this one (default: temporary)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directories")
    return parser.parse_args(argv)


def run_script(script: str, workdir: Path, keep: bool) -> list[Target]:
    """Run one benchmark script; return the targets it judged.

    Its report goes straight to our standard output; a failing script stops
    the run with its exit status.
    """
    name = Path(script).stem
    targets_file = workdir / f"{name}-targets.json"
    command = [
        sys.executable,
        str(HERE / script),
        "--workdir",
        str(workdir / name),
        "--targets",
        str(targets_file),
        *(["--keep"] if keep else []),
    ]
    progress(f"running {script}")
    completed = subprocess.run(command, check=False)  # noqa: S603 (fixed argv)
    if completed.returncode != 0:
        raise SystemExit(f"Error: {script} failed with status {completed.returncode}")
    return read_targets(targets_file)


def summary(targets: Sequence[Target]) -> str:
    """Return the table of every target: figure, value, goal, and whether it is met."""
    rows = [
        [target.figure, target.value, target.goal, "ok" if target.met else "MISS"]
        for target in targets
    ]
    return table(["target", "figure", "goal", "result"], rows)


def main(argv: Sequence[str] | None = None) -> int:
    """Run every benchmark and print the targets; 0 if all ran, whatever they met."""
    options = parse_args(argv)
    started = datetime.datetime.now(datetime.timezone.utc)
    with tempfile.TemporaryDirectory(prefix="ml-template-perf-") as scratch:
        root = options.workdir or Path(scratch)
        root.mkdir(parents=True, exist_ok=True)
        targets = [
            target
            for script in SCRIPTS
            for target in run_script(script, root, options.keep)
        ]
    print()
    print(machine_line("Performance targets", started))
    print(summary(targets))
    return 0


if __name__ == "__main__":
    sys.exit(main())
