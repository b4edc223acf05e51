"""Slow tier: the DVC pipeline and remote of a generated project, offline.

The project is the regression-py3.12-gitlab-dvc combination of
``installed.py``, which other slow modules use too: MLflow runs go to a
throwaway store, and every file the tests add or change in the project is
removed or restored at the end, leaving ``git status`` clean. DVC and the
stages' ``uv run`` work without a network: the proxies point at a closed port
and uv runs offline.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from baked import Cookies
from helpers import free_port
from installed import COMBINATIONS, Project, combination_answers, installed_project

pytestmark = [pytest.mark.slow, pytest.mark.dvc]

DVC_COMBINATION = next(
    combination_answers(param)
    for param in COMBINATIONS
    if combination_answers(param).get("dvc") == "yes"
)
DATA_FILE = "data/penguins.csv"
STAGES = ("check-data", "train", "evaluate")
# What the tests change in the project: restored (or removed) afterwards.
RESTORED_FILES = ("config.yaml", ".dvc/config", DATA_FILE)
ADDED_PATHS = ("reports", "dvc.lock", "dvc_plots", ".dvc/tmp")


@pytest.fixture(scope="module")
def project(cookies_session: Cookies) -> Project:
    """The regression project with DVC, on Python 3.12, with its environment."""
    return installed_project(cookies_session, DVC_COMBINATION)


@pytest.fixture(scope="module")
def offline(
    project: Project, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """Variables for commands without network, tracking to a throwaway store."""
    closed = f"http://127.0.0.1:{free_port()}"
    store = tmp_path_factory.mktemp("dvc-mlflow")
    prefix = f"{project.package.upper()}_"
    return {
        "HTTP_PROXY": closed,
        "HTTPS_PROXY": closed,
        "UV_OFFLINE": "1",
        f"{prefix}TRACKING__URI": f"sqlite:///{store / 'mlflow.db'}",
        f"{prefix}TRACKING__SAVED_RUNS": str(store / "saved-runs"),
    }


@pytest.fixture(scope="module")
def first_repro(project: Project, offline: dict[str, str]) -> Iterator[str]:
    """The output of the first ``dvc repro``; the project is restored afterwards."""
    kept = {name: (project.path / name).read_bytes() for name in RESTORED_FILES}
    cache = project.path / ".dvc" / "cache"
    cached = {path: path.read_bytes() for path in cache.rglob("*") if path.is_file()}
    try:
        yield dvc(project, offline, "repro").stdout
    finally:
        for name, content in kept.items():
            (project.path / name).write_bytes(content)
        for path, content in cached.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists():
                path.write_bytes(content)
        for name in ADDED_PATHS:
            added = project.path / name
            if added.is_dir():
                shutil.rmtree(added)
            else:
                added.unlink(missing_ok=True)
    assert project.run("git", "status", "--porcelain").stdout == ""


def dvc(
    project: Project, env: dict[str, str], *arguments: str
) -> subprocess.CompletedProcess[str]:
    """Run the project's ``dvc`` with ``arguments``; fail the test if it fails."""
    return project.run(
        str(project.path / ".venv" / "bin" / "dvc"), *arguments, extra_env=env
    )


def ran(output: str) -> list[str]:
    """The stages that a ``dvc repro`` output says it ran."""
    return [stage for stage in STAGES if f"Running stage '{stage}'" in output]


def test_repro_runs_every_stage_and_writes_metrics_and_plots(
    project: Project, offline: dict[str, str], first_repro: str
) -> None:
    assert ran(first_repro) == list(STAGES)
    data = json.loads(project.read_text("reports/data.json"))
    training = json.loads(project.read_text("reports/train/metrics.json"))
    evaluation = json.loads(project.read_text("reports/evaluation.json"))
    assert data["rows"] == data["train_rows"] + data["test_rows"] > 0
    assert training["promoted"] == 1
    assert evaluation["rmse"] == pytest.approx(training["rmse"])
    shown = dvc(project, offline, "metrics", "show", "--json").stdout
    assert "reports/train/metrics.json" in shown
    dvc(project, offline, "plots", "show")
    assert (project.path / "dvc_plots" / "index.html").is_file()


def test_a_second_repro_runs_nothing(
    project: Project, offline: dict[str, str], first_repro: str
) -> None:
    again = dvc(project, offline, "repro").stdout

    assert ran(again) == []


def test_a_changed_model_parameter_reruns_train_and_evaluate_only(
    project: Project, offline: dict[str, str], first_repro: str
) -> None:
    config = project.path / "config.yaml"
    config.write_text(
        config.read_text(encoding="utf-8").replace("max_iter: 100", "max_iter: 60", 1),
        encoding="utf-8",
    )

    rerun = dvc(project, offline, "repro").stdout

    assert ran(rerun) == ["train", "evaluate"]
    training = json.loads(project.read_text("reports/train/metrics.json"))
    assert training["model_version"] == 2


def test_push_then_pull_restores_the_data_byte_for_byte(
    project: Project,
    offline: dict[str, str],
    first_repro: str,
    tmp_path: Path,
) -> None:
    data = project.path / DATA_FILE
    original = data.read_bytes()
    dvc(project, offline, "remote", "add", "-d", "local", str(tmp_path / "remote"))
    dvc(project, offline, "push")
    data.unlink()
    shutil.rmtree(project.path / ".dvc" / "cache")

    dvc(project, offline, "pull")

    assert data.read_bytes() == original
    assert "up to date" in dvc(project, offline, "status").stdout


def test_the_stage_training_run_carries_the_dvc_data_version(
    project: Project, offline: dict[str, str], first_repro: str
) -> None:
    uri = offline[f"{project.package.upper()}_TRACKING__URI"]
    code = (
        "import json, mlflow\n"
        f"mlflow.set_tracking_uri({uri!r})\n"
        f"runs = mlflow.search_runs(experiment_names=[{project.slug!r}],"
        " output_format='list', order_by=['attributes.start_time ASC'])\n"
        "print(json.dumps(runs[0].data.tags))"
    )
    python = str(project.path / ".venv" / "bin" / "python")

    tags = json.loads(project.run(python, "-c", code).stdout.splitlines()[-1])

    data = (project.path / DATA_FILE).read_bytes()
    assert tags["dvc.data.md5"] == hashlib.md5(data, usedforsecurity=False).hexdigest()
    assert tags["dvc.data.modified"] == "false"
