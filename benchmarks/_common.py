"""Helpers shared by the benchmark scripts.

A plain module, not a script: it renders the template, runs commands with the
environment a rendered project needs, reads the JSON that the in-project
helpers report, lays out the printed tables and passes the judged targets on
to ``performance.py``. Standard library only, like
the scripts that import it. The helpers that run with a rendered project's
python (``inprocess_predict.py``, ``serving_client.py``) do not import it:
the first times its own imports, and both depend on nothing but the project.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
"""The template repository: what cookiecutter renders."""

TRACKING_URI = "sqlite:///mlflow.db"
"""The rendered project's own MLflow store, relative to its directory."""

CHILD_ENV_DROPPED = ("VIRTUAL_ENV", "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
"""Variables of the outer environment that no command inherits."""

LOG_TAIL_CHARS = 3000
"""How much of a failed command's output its error message shows."""


class StepError(RuntimeError):
    """A command the benchmark depends on failed."""


def progress(message: str) -> None:
    """Print a progress line, stamped with the time, to stderr."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def child_environment() -> dict[str, str]:
    """Return the environment for every command: no Python downloads by uv.

    The ``VIRTUAL_ENV`` of the ``uv run`` that started the script and any
    MLflow server settings are dropped, so that the project uses its own
    ``.venv`` and its local ``mlflow.db``.
    """
    env = {k: v for k, v in os.environ.items() if k not in CHILD_ENV_DROPPED}
    env["UV_PYTHON_DOWNLOADS"] = "never"
    return env


def find_uv() -> str:
    """Return the uv executable: the one running us (``$UV``), else the PATH's."""
    found = os.environ.get("UV") or shutil.which("uv")
    if not found:
        raise StepError("uv not found: run this script with `uv run`")
    return found


def venv_bin(project: Path, name: str) -> str:
    """Return the path of executable ``name`` in the project's ``.venv/bin``."""
    return str(project / ".venv" / "bin" / name)


def champion_uri(slug: str) -> str:
    """Return the MLflow URI of the champion model of the project ``slug``."""
    return f"models:/{slug}@champion"


def render_command(output_dir: Path, *answers: str) -> list[str]:
    """Return the command rendering the template into ``output_dir``, no prompts.

    Cookiecutter runs from the interpreter running the script, i.e. the
    repository's dev group. ``answers`` are ``key=value`` overrides of the
    default answers, e.g. ``init_git=no``.
    """
    command = [sys.executable, "-m", "cookiecutter", str(REPO), "--no-input"]
    return [*command, "-o", str(output_dir), *answers]


def subdirectories(folder: Path) -> set[Path]:
    """Return the directories directly inside ``folder``."""
    return {path for path in folder.iterdir() if path.is_dir()}


def rendered_project(output_dir: Path, before: set[Path]) -> Path:
    """Return the one directory that rendering added to ``output_dir``.

    ``before`` holds the ``subdirectories`` of ``output_dir`` before rendering.
    Raises ``StepError`` unless exactly one directory was added.
    """
    created = sorted(subdirectories(output_dir) - before)
    if len(created) != 1:
        raise StepError(f"expected one rendered project, found {created}")
    return created[0]


def check_output(
    command: Sequence[str], env: dict[str, str], cwd: Path | None = None
) -> str:
    """Run a quick ``command`` to completion; return its standard output.

    Raises ``StepError``, ending with the tail of its output, if it failed.
    """
    completed = subprocess.run(  # noqa: S603 (fixed argv, no shell)
        command, cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        tail = (completed.stdout + completed.stderr)[-LOG_TAIL_CHARS:]
        raise StepError(f"{' '.join(command)} failed:\n{tail}")
    return completed.stdout


def log_name(name: str) -> str:
    """Return a step's or a server's ``name`` fit for a file name."""
    return name.replace(" ", "_").replace(",", "")


def json_object(text: str) -> dict[str, Any]:
    """Decode the JSON object that a helper in the project's venv reported."""
    decoded = json.loads(text)
    if not isinstance(decoded, dict):
        raise StepError(f"expected a JSON object from the helper, got {text[:200]!r}")
    return decoded


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Lay ``rows`` out in columns: the first left-aligned, the others right.

    The header is underlined with dashes; lines have no trailing spaces.
    """
    everything = [list(header), *map(list, rows)]
    widths = [max(len(row[i]) for row in everything) for i in range(len(header))]
    lines = []
    for row in everything:
        cells = [row[0].ljust(widths[0])]
        cells += [
            cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def machine_line(title: str, when: datetime.datetime) -> str:
    """Return ``title``, the time ``when`` (with its zone) and the machine."""
    stamp = when.strftime("%Y-%m-%d %H:%M %Z")
    return f"{title}, {stamp}, {os.cpu_count()} CPUs, {platform.platform()}"


@dataclass(frozen=True)
class Target:
    """One goal a benchmark judged: the figure, its value, the goal, and the verdict."""

    figure: str
    value: str
    goal: str
    met: bool


def write_targets(path: Path | None, targets: Sequence[Target]) -> None:
    """Write ``targets`` to ``path`` as JSON, for ``performance.py``; None: nothing."""
    if path is not None:
        text = json.dumps([asdict(target) for target in targets], indent=2)
        path.write_text(text + "\n", encoding="utf-8")


def read_targets(path: Path) -> list[Target]:
    """Read the targets a benchmark wrote with :func:`write_targets`."""
    return [Target(**fields) for fields in json.loads(path.read_text("utf-8"))]


def add_targets_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--targets FILE``: the JSON file that ``performance.py`` reads."""
    parser.add_argument(
        "--targets", type=Path, help="also write the judged targets to this JSON file"
    )


def prepare_workdir(path: Path | None, prefix: str) -> tuple[Path, bool]:
    """Return the work directory and whether it was created here.

    ``None``: a new temporary directory named with ``prefix``. A given
    directory must be empty or not exist yet.
    """
    if path is None:
        return Path(tempfile.mkdtemp(prefix=prefix)), True
    if path.exists() and any(path.iterdir()):
        raise StepError(f"--workdir {path} must be empty or not exist")
    created = not path.exists()
    path.mkdir(parents=True, exist_ok=True)
    return path.resolve(), created
