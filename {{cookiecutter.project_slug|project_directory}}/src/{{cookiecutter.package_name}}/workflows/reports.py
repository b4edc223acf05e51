"""Report files for pipelines: JSON metrics and a table of held-out predictions.

Pipeline tools such as DVC read these files as metrics and plots, and compare
them between commits. Each is written whole through a temporary file (see
:mod:`~{{ cookiecutter.package_name }}.files`), in a directory created when
it is missing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ProjectError
from ..files import atomic_path, write_text_atomically

if TYPE_CHECKING:
    from .train import TrainingResult

TRAINING_METRICS_FILE = "metrics.json"
HOLDOUT_FILE = "holdout.csv"


def write_json(path: Path, values: Mapping[str, object]) -> None:
    """Write ``values`` to ``path`` as indented JSON, creating its directory.

    Raises
    ------
    ProjectError
        If the directory or the file cannot be written.
    """
    make_directory(path.parent)
    write_text_atomically(path, json.dumps(values, indent=2) + "\n")


def write_training_report(directory: Path, result: TrainingResult) -> tuple[Path, Path]:
    """Write what a training run gives a pipeline into ``directory``; return the files.

    ``metrics.json`` holds the candidate's held-out metrics, its registered
    version and whether it was promoted (1) or not (0); ``holdout.csv`` the
    held-out rows' true values and predictions (``actual``, ``predicted``).

    Raises
    ------
    ProjectError
        If the directory or a file cannot be written.
    """
    metrics_path, holdout_path = training_report_paths(directory)
    write_json(
        metrics_path,
        {
            **result.metrics,
            "model_version": int(result.model_version),
            "promoted": int(result.promoted),
        },
    )
    try:
        with atomic_path(holdout_path) as temporary:
            result.holdout_predictions.to_csv(temporary, index=False)
    except OSError as error:
        raise ProjectError(f"cannot write {holdout_path}: {error.strerror}") from error
    return metrics_path, holdout_path


def training_report_paths(directory: Path) -> tuple[Path, Path]:
    """Return the paths of the metrics and of the held-out predictions in ``directory``.

    Examples
    --------
    >>> [path.as_posix() for path in training_report_paths(Path("reports/train"))]
    ['reports/train/metrics.json', 'reports/train/holdout.csv']
    """
    return directory / TRAINING_METRICS_FILE, directory / HOLDOUT_FILE


def make_directory(directory: Path) -> None:
    """Create ``directory`` and its parents if missing.

    Raises
    ------
    ProjectError
        If it cannot be created, e.g. because a file has its name.
    """
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ProjectError(
            f"cannot create directory {directory}: {error.strerror}"
        ) from error
