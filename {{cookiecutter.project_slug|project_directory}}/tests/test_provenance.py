"""Provenance tags, dataset inputs and the resolved configuration of a run."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import mlflow
import pytest
import yaml
from mlflow.tracking import MlflowClient

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.errors import hide_credentials
from {{ cookiecutter.package_name }}.tracking import provenance
from {{ cookiecutter.package_name }}.workflows.train import TrainingResult

GIT = shutil.which("git") or "git"


def git(repository: Path, *args: str) -> None:
    subprocess.run(
        [
            GIT,
            "-C",
            str(repository),
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            *args,
        ],
        check=True,
        capture_output=True,
    )


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    """A git repository with one committed file."""
    git(tmp_path, "init", "-q")
    (tmp_path / "code.py").write_text("x = 1\n", encoding="utf-8")
    git(tmp_path, "add", "code.py")
    git(tmp_path, "commit", "-q", "-m", "first")
    return tmp_path


def test_clean_tree(repository: Path) -> None:
    tags = provenance.git_tags(repository)

    assert len(tags["git.commit"]) == 40
    assert tags["git.dirty"] == "false"
    assert tags["mlflow.source.git.commit"] == tags["git.commit"]


def test_changed_tracked_file_makes_the_tree_dirty(repository: Path) -> None:
    (repository / "untracked.txt").write_text("new\n", encoding="utf-8")
    assert provenance.git_tags(repository)["git.dirty"] == "false"

    (repository / "code.py").write_text("x = 2\n", encoding="utf-8")
    assert provenance.git_tags(repository)["git.dirty"] == "true"


def test_outside_a_repository(tmp_path: Path) -> None:
    assert provenance.git_tags(tmp_path) == {
        "git.commit": "none",
        "git.dirty": "unknown",
    }


def test_lock_file_hash_or_none(tmp_path: Path) -> None:
    assert provenance.lock_tags(None) == {"lock.sha256": "none"}
    assert provenance.lock_tags(tmp_path) == {"lock.sha256": "none"}

    (tmp_path / "uv.lock").write_bytes(b"")
    empty_sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert provenance.lock_tags(tmp_path) == {"lock.sha256": empty_sha256}


def test_project_root_is_found_above_the_package() -> None:
    root = provenance.project_root()

    assert root is not None
    assert (root / "pyproject.toml").is_file()
    assert provenance.project_root(Path("/")) is None


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        (
            "https://alice:s3cret@mlflow.example.com:8443/x",
            "https://***@mlflow.example.com:8443/x",
        ),
        ("https://token@mlflow.example.com", "https://***@mlflow.example.com"),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
        ("sqlite:///mlflow.db", "sqlite:///mlflow.db"),
    ],
)
def test_credentials_are_hidden(uri: str, expected: str) -> None:
    assert hide_credentials(uri) == expected


def test_resolved_config_carries_no_credentials(settings: Settings) -> None:
    tracking = settings.tracking.model_copy(
        update={"uri": "https://alice:s3cret@mlflow.example.com"}
    )
    resolved = provenance.resolved_config(
        settings.model_copy(update={"tracking": tracking})
    )

    assert "s3cret" not in yaml.safe_dump(resolved)
    assert resolved["seed"] == settings.seed


def test_run_records_provenance(
    trained: TrainingResult, tracked_settings: Settings
) -> None:
    run = MlflowClient().get_run(trained.run_id)
    tags = run.data.tags

    for name in ("git.commit", "git.dirty", "lock.sha256", "platform"):
        assert tags[name]
    assert tags["python.version"].count(".") == 2
    assert tags["seed"] == str(tracked_settings.seed)
    assert tags["data.sha256"] == provenance.file_sha256(tracked_settings.data.path)
    assert run.inputs is not None
    inputs = {
        dataset.tags[0].value: dataset.dataset for dataset in run.inputs.dataset_inputs
    }
    assert set(inputs) == {"training", "evaluation"}
    assert inputs["training"].digest == tags["data.training_digest"]
    assert inputs["training"].name == tracked_settings.data.path.name
    config = mlflow.artifacts.load_text(f"runs:/{trained.run_id}/config.yaml")
    assert yaml.safe_load(config)["data"]["target"] == tracked_settings.data.target


# What ``md5sum`` prints for the table of ``versioned_data``.
TABLE_MD5 = "e5ebd4c02cefbe7955977c67ada242b7"


@pytest.fixture
def versioned_data(tmp_path: Path) -> Path:
    """A data file with the ``.dvc`` file that ``dvc add`` would write beside it."""
    data = tmp_path / "table.csv"
    data.write_bytes(b"a,b\n1,2\n")
    provenance.dvc_file(data).write_text(
        f"outs:\n- md5: {TABLE_MD5}\n  size: 8\n  hash: md5\n  path: table.csv\n",
        encoding="utf-8",
    )
    return data


def test_data_without_a_dvc_file_has_no_dvc_tags(tmp_path: Path) -> None:
    data = tmp_path / "table.csv"
    data.write_bytes(b"a,b\n1,2\n")

    assert provenance.dvc_tags(data) == {}


def test_data_versioned_by_dvc_is_tagged_with_its_md5(
    versioned_data: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert provenance.dvc_tags(versioned_data) == {
        "dvc.data.md5": TABLE_MD5,
        "dvc.data.modified": "false",
    }
    assert caplog.records == []


def test_data_changed_since_dvc_add_is_tagged_modified_with_a_warning(
    versioned_data: Path, caplog: pytest.LogCaptureFixture
) -> None:
    versioned_data.write_bytes(b"a,b\n1,3\n")

    tags = provenance.dvc_tags(versioned_data)

    assert tags == {"dvc.data.md5": TABLE_MD5, "dvc.data.modified": "true"}
    assert f"run `dvc add {versioned_data}`" in caplog.text


def test_unreadable_dvc_file_is_tagged_none_with_a_warning(
    versioned_data: Path, caplog: pytest.LogCaptureFixture
) -> None:
    provenance.dvc_file(versioned_data).write_text("outs: []\n", encoding="utf-8")

    tags = provenance.dvc_tags(versioned_data)

    assert tags == {"dvc.data.md5": "none", "dvc.data.modified": "unknown"}
    assert "Cannot read the MD5" in caplog.text


def test_run_records_the_dvc_version_of_its_data(
    trained: TrainingResult, tracked_settings: Settings
) -> None:
    tags = MlflowClient().get_run(trained.run_id).data.tags
    expected = provenance.dvc_tags(tracked_settings.data.path)

    assert expected.items() <= tags.items()
    assert provenance.dvc_file(tracked_settings.data.path).is_file() == bool(expected)
