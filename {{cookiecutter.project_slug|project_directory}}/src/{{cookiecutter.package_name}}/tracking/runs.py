"""Saved runs: each trained model kept on local disk before it reaches MLflow.

``train`` saves everything needed to log, register and gate a run (the fitted
model, its held-out metrics, the configuration, the provenance taken at
training time, the training rows and the held-out rows the promotion gate
scores on) to a directory of its own under ``tracking.saved_runs``. The
directory is written under a temporary name and renamed when complete, so a
crash never leaves a half-written run; if the tracking server then fails,
nothing is lost and the ``upload`` command logs the saved run later.

Once a run is logged, its directory is marked (``logged.json``: run ID,
model version, tracking URI) and shrinks to that mark and the manifest: the
model and the data splits, about 2 MB a run, are deleted, since the tracking
store now holds them. The mark is written first, so ``upload`` of a logged
run always refuses to log it twice, and names the run it became.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from sklearn.pipeline import Pipeline

from ..config import Settings, TrackingConfig
from ..data import Dataset, Split, as_text
from ..errors import ModelError, first_line, hide_credentials
from ..files import atomic_path
from .artifacts import save_model
from .connection import tracking_uri

logger = logging.getLogger(__name__)

MODEL_DIR = "model"
MANIFEST = "run.json"
TRAIN_FILE = "train.parquet"
TEST_FILE = "test.parquet"
LOGGED_FILE = "logged.json"
# What the tracking store holds once the run is logged.
LOGGED_ELSEWHERE = (MODEL_DIR, TRAIN_FILE, TEST_FILE)


@dataclass(frozen=True)
class SavedRun:
    """A trained model and what logging it needs, as saved on disk."""

    path: Path
    settings: Settings
    pipeline: Pipeline
    metrics: dict[str, float]
    split: Split
    provenance: dict[str, str]


def new_run_name() -> str:
    """Return a unique, sortable directory name: UTC time and a random suffix."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return f"{stamp}-{uuid.uuid4().hex[:8]}"


def write_json(path: Path, content: dict[str, Any]) -> None:
    """Write ``content`` as indented JSON to ``path``."""
    path.write_text(json.dumps(content, indent=2, sort_keys=True), encoding="utf-8")


def write_dataset(part: Dataset, target: str, path: Path) -> None:
    """Write the features, audited columns and target of ``part`` to ``path``.

    The file is Parquet.
    """
    table = part.features if part.audit is None else part.features.join(part.audit)
    table.assign(**{target: part.target}).to_parquet(path)


def read_dataset(
    path: Path, target: str, text_columns: list[str], audit_columns: list[str]
) -> Dataset:
    """Read a dataset written by :func:`write_dataset`."""
    # Missing text comes back from Parquet as None; the pipeline expects NaN.
    table = as_text(pd.read_parquet(path), [*text_columns, *audit_columns])
    return Dataset(
        table.drop(columns=[target, *audit_columns]),
        table[target],
        table[audit_columns] if audit_columns else None,
    )


def write_run(directory: Path, run: SavedRun) -> None:
    """Write every file of ``run`` into the empty ``directory``; manifest last."""
    target = run.settings.data.target
    unwritten = run.settings.data.unwritten_columns
    save_model(run.pipeline, run.split.train.features, directory / MODEL_DIR, unwritten)
    write_dataset(run.split.train, target, directory / TRAIN_FILE)
    write_dataset(run.split.test, target, directory / TEST_FILE)
    manifest = {
        "metrics": run.metrics,
        "config": run.settings.model_dump(mode="json"),
        "provenance": run.provenance,
    }
    write_json(directory / MANIFEST, manifest)


def save_run(
    settings: Settings,
    pipeline: Pipeline,
    metrics: dict[str, float],
    split: Split,
    provenance: dict[str, str],
) -> SavedRun:
    """Save a trained run atomically under ``settings.tracking.saved_runs``.

    The files are written to a temporary directory next to the final one,
    which takes its name only when all of them are complete.
    """
    parent = settings.tracking.saved_runs
    parent.mkdir(parents=True, exist_ok=True)
    final = parent / new_run_name()
    run = SavedRun(final, settings, pipeline, metrics, split, provenance)
    with atomic_path(final) as partial:
        partial.mkdir()
        write_run(partial, run)
    logger.info("Saved the trained run in %s", final)
    return run


def read_manifest(path: Path) -> dict[str, Any]:
    """Read the manifest of the saved run at ``path``.

    Raises
    ------
    ModelError
        If ``path`` is not a complete saved run.
    """
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ModelError(
            f"{path} is not a saved run (no readable {MANIFEST}); saved runs are"
            " the directories under tracking.saved_runs"
        ) from error
    if not isinstance(manifest, dict):
        raise ModelError(f"{path / MANIFEST} is not a saved-run manifest")
    return manifest


def load_run(path: Path, tracking_config: TrackingConfig) -> SavedRun:
    """Load the saved run at ``path``, to be logged with ``tracking_config``.

    The run keeps the configuration it was trained with, except where it is
    logged to: that is the current ``tracking_config``.

    Raises
    ------
    ModelError
        If ``path`` is not a complete, readable saved run.
    """
    manifest = read_manifest(path)
    try:
        trained_with = Settings.model_validate(manifest["config"])
        metrics = {name: float(value) for name, value in manifest["metrics"].items()}
        origin = {str(key): str(value) for key, value in manifest["provenance"].items()}
        target = trained_with.data.target
        text_columns = trained_with.data.categorical_features
        audit_columns = trained_with.audit_columns
        split = Split(
            read_dataset(path / TRAIN_FILE, target, text_columns, audit_columns),
            read_dataset(path / TEST_FILE, target, text_columns, audit_columns),
        )
        pipeline = mlflow.sklearn.load_model(str(path / MODEL_DIR))
    except (KeyError, TypeError, ValueError, OSError, MlflowException) as error:
        raise ModelError(
            f"cannot read saved run {path}: {first_line(error)}"
        ) from error
    settings = trained_with.model_copy(update={"tracking": tracking_config})
    return SavedRun(path, settings, pipeline, metrics, split, origin)


def logged_as(path: Path) -> dict[str, str] | None:
    """Return where the saved run at ``path`` was logged, or ``None`` if not yet."""
    try:
        content = json.loads((path / LOGGED_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    return {str(key): str(value) for key, value in content.items()}


def mark_logged(run: SavedRun, run_id: str, model_version: str) -> None:
    """Record in the saved run that it was logged as ``run_id``, ``model_version``."""
    uri = hide_credentials(tracking_uri(run.settings.tracking))
    record = {"run_id": run_id, "model_version": model_version, "tracking_uri": uri}
    with atomic_path(run.path / LOGGED_FILE) as partial:
        write_json(partial, record)


def remove_logged_files(path: Path) -> None:
    """Delete the model and data splits of the logged run saved at ``path``.

    The manifest and the mark stay. A file that cannot be deleted is left
    behind with a warning: the run is logged, so nothing is lost.
    """
    for name in LOGGED_ELSEWHERE:
        logged_elsewhere = path / name
        try:
            if logged_elsewhere.is_dir():
                shutil.rmtree(logged_elsewhere)
            else:
                logged_elsewhere.unlink(missing_ok=True)
        except OSError as error:
            logger.warning("Could not delete %s: %s", logged_elsewhere, error)
