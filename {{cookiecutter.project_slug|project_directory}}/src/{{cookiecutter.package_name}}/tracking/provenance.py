"""Provenance: which code, environment, data and settings produced a run.

Every training run records these as tags, inputs and an artifact of its MLflow
run, so a model can be traced back to the commit, lock file, data file and
configuration it came from. Training from a working tree with uncommitted
changes is allowed, but tagged ``git.dirty=true``; outside a git repository,
without git, or without a lock file, the tags say ``none`` instead of failing.
When DVC versions the data file (a ``.dvc`` file lies beside it), the run also
records the data version DVC knows and whether the file changed since.
"""

from __future__ import annotations

import hashlib
import logging
import platform
import shutil
import subprocess
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import mlflow
import yaml
from mlflow.data.pandas_dataset import PandasDataset, from_pandas

from .. import __version__
from ..config import Settings
from ..data import Dataset, Split
from ..errors import hide_credentials

logger = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parents[1]
LOCK_FILE_NAME = "uv.lock"
CONFIG_ARTIFACT = "config.yaml"
MISSING = "none"
_HASH_BLOCK_BYTES = 1 << 20


def file_sha256(path: Path) -> str:
    """Return the SHA-256 hex digest of the file at ``path``, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(_HASH_BLOCK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


def file_md5(path: Path) -> str:
    """Return the MD5 hex digest of the file at ``path``: how DVC 3 hashes a file."""
    with path.open("rb") as stream:
        digest = hashlib.file_digest(stream, lambda: hashlib.md5(usedforsecurity=False))
    return digest.hexdigest()


def dvc_file(data_path: Path) -> Path:
    """Return the path of the ``.dvc`` file that versions ``data_path`` with DVC.

    Examples
    --------
    >>> dvc_file(Path("data/penguins.csv")).as_posix()
    'data/penguins.csv.dvc'
    """
    return data_path.with_name(f"{data_path.name}.dvc")


# What reading a ``.dvc`` file that is not as DVC writes it can raise.
UNREADABLE_DVC_FILE = (OSError, yaml.YAMLError, LookupError, TypeError)


def recorded_md5(dvc_path: Path) -> str | None:
    """Return the MD5 that the ``.dvc`` file at ``dvc_path`` records, if readable."""
    try:
        recorded = yaml.safe_load(dvc_path.read_text(encoding="utf-8"))
        md5 = recorded["outs"][0]["md5"]
    except UNREADABLE_DVC_FILE:
        return None
    return md5 if isinstance(md5, str) else None


def dvc_tags(data_path: Path) -> dict[str, str]:
    """Return the DVC version of the data file, if DVC versions it.

    ``dvc.data.md5`` is the MD5 that ``data_path``'s ``.dvc`` file records
    (``none`` if it cannot be read), and ``dvc.data.modified`` whether the
    file no longer has that MD5: then a warning says to run ``dvc add``.
    Without a ``.dvc`` file there are no tags.
    """
    dvc_path = dvc_file(data_path)
    if not dvc_path.is_file():
        return {}
    recorded = recorded_md5(dvc_path)
    if recorded is None:
        logger.warning("Cannot read the MD5 of %s from %s", data_path, dvc_path)
        return {"dvc.data.md5": MISSING, "dvc.data.modified": "unknown"}
    modified = file_md5(data_path) != recorded
    if modified:
        logger.warning(
            "%s changed since DVC versioned it (%s): run `dvc add %s` and commit"
            " the .dvc file, or this run's data version cannot be found again",
            data_path,
            dvc_path,
            data_path,
        )
    return {"dvc.data.md5": recorded, "dvc.data.modified": str(modified).lower()}


def _git(directory: Path, *args: str) -> str | None:
    """Return the output of ``git args`` in ``directory``, or ``None`` if it fails."""
    executable = shutil.which("git")
    if executable is None:
        return None
    completed = subprocess.run(  # noqa: S603 (fixed arguments, no shell)
        [executable, "-C", str(directory), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    return completed.stdout.strip() if completed.returncode == 0 else None


def git_tags(directory: Path = PACKAGE_DIR) -> dict[str, str]:
    """Return the commit of the code in ``directory`` and whether it has changes.

    Only tracked files count as changes: build outputs and local databases
    are untracked and do not make a tree dirty. Without a repository (or
    without a first commit) the commit is ``none`` and dirtiness ``unknown``.
    """
    commit = _git(directory, "rev-parse", "HEAD")
    if commit is None:
        return {"git.commit": MISSING, "git.dirty": "unknown"}
    changes = _git(directory, "status", "--porcelain", "--untracked-files=no")
    return {
        "git.commit": commit,
        "git.dirty": "true" if changes else "false",
        "mlflow.source.git.commit": commit,
    }


def project_root(start: Path = PACKAGE_DIR) -> Path | None:
    """Return the nearest directory above ``start`` with a ``pyproject.toml``."""
    return next(
        (folder for folder in start.parents if (folder / "pyproject.toml").is_file()),
        None,
    )


def lock_tags(root: Path | None) -> dict[str, str]:
    """Return the hash of the lock file in ``root``, ``none`` if there is none."""
    lock = None if root is None else root / LOCK_FILE_NAME
    if lock is None or not lock.is_file():
        return {"lock.sha256": MISSING}
    return {"lock.sha256": file_sha256(lock)}


def environment_tags() -> dict[str, str]:
    """Return the versions of this package and Python, and the platform."""
    return {
        "package.version": __version__,
        "python.version": platform.python_version(),
        "platform": platform.platform(),
    }


def resolved_config(settings: Settings) -> dict[str, Any]:
    """Return the configuration as plain values, with credentials removed."""
    resolved = settings.model_dump(mode="json")
    uri = resolved["tracking"]["uri"]
    if uri is not None:
        resolved["tracking"]["uri"] = hide_credentials(uri)
    return resolved


def flatten(settings: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested settings into ``section.key`` names for MLflow params.

    Examples
    --------
    >>> flatten({"seed": 42, "model": {"max_iter": 100}})
    {'seed': 42, 'model.max_iter': 100}
    """
    flat: dict[str, Any] = {}
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def as_mlflow_dataset(settings: Settings, part: Dataset, name: str) -> PandasDataset:
    """Wrap the rows of ``part`` (features and target) as an MLflow dataset."""
    target = settings.data.target
    frame = part.features.assign(**{target: part.target})
    with warnings.catch_warnings():
        # MLflow registers its local file source twice, then warns that a
        # local path matches both; either reading is the same.
        warnings.filterwarnings("ignore", "The specified dataset source can be")
        dataset: PandasDataset = from_pandas(
            frame, source=str(settings.data.path), targets=target, name=name
        )
    return dataset


def provenance_tags(settings: Settings) -> dict[str, str]:
    """Return every provenance tag of a training run with ``settings``."""
    return {
        **git_tags(),
        **lock_tags(project_root()),
        **environment_tags(),
        "data.sha256": file_sha256(settings.data.path),
        **dvc_tags(settings.data.path),
        "seed": str(settings.seed),
    }


def log_provenance(
    settings: Settings, split: Split, origin: dict[str, str]
) -> dict[str, str]:
    """Record the provenance of the active run; return its tags.

    ``origin`` holds the tags of :func:`provenance_tags`, taken when the model
    was trained. Besides them, the training and test rows become dataset
    inputs of the run (contexts ``training`` and ``evaluation``), whose MLflow
    digests of their content are tagged too, and the resolved configuration
    becomes the artifact ``config.yaml``.
    """
    name = settings.data.path.name
    datasets = {
        "training": as_mlflow_dataset(settings, split.train, name),
        "evaluation": as_mlflow_dataset(settings, split.test, name),
    }
    tags = origin | {
        f"data.{context}_digest": dataset.digest
        for context, dataset in datasets.items()
    }
    mlflow.set_tags(tags)
    for context, dataset in datasets.items():
        mlflow.log_input(dataset, context=context)
    mlflow.log_dict(resolved_config(settings), CONFIG_ARTIFACT)
    return tags
