"""The DVC pipeline's definition: real commands, real parameters, the right data hash.

Nothing here runs DVC: the pipeline itself runs in ``make repro``.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import pytest
import yaml
from click.testing import CliRunner

from {{ cookiecutter.package_name }}.cli import cli
from {{ cookiecutter.package_name }}.tracking import provenance
from {{ cookiecutter.package_name }}.workflows.train import TrainingResult

from .conftest import CONFIG_PATH, DEMO_DATA, PROJECT_ROOT, SCRIPT_NAME

PIPELINE = yaml.safe_load((PROJECT_ROOT / "dvc.yaml").read_text(encoding="utf-8"))
CONFIG = yaml.safe_load(CONFIG_PATH.read_text(encoding="utf-8"))
STAGES: dict[str, dict[str, Any]] = PIPELINE["stages"]


def resolved(path: str) -> Path:
    """``path`` of dvc.yaml, with ``${data.path}`` taken from config.yaml."""
    return PROJECT_ROOT / path.replace("${data.path}", CONFIG["data"]["path"])


def outputs(stage: dict[str, Any]) -> Iterator[str]:
    """The files ``stage`` writes: its metrics and other outputs."""
    for kind in ("metrics", "outs", "plots"):
        for entry in stage.get(kind, []):
            yield from entry if isinstance(entry, dict) else [entry]


def test_the_pipeline_reads_its_variables_from_config_yaml() -> None:
    assert PIPELINE["vars"] == ["config.yaml:data"]
    assert resolved("${data.path}") == DEMO_DATA


@pytest.mark.parametrize("name", list(STAGES))
def test_each_stage_runs_a_command_of_this_cli(name: str) -> None:
    command = shlex.split(STAGES[name]["cmd"])

    # --help, parsed after every option, fails on an unknown one.
    result = CliRunner().invoke(cli, [*command[3:], "--help"])

    assert command[:3] == ["uv", "run", SCRIPT_NAME]
    assert command[3] == name
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("name", list(STAGES))
def test_each_parameter_is_a_key_of_config_yaml(name: str) -> None:
    (params,) = STAGES[name]["params"]

    assert list(params) == ["config.yaml"]
    assert set(params["config.yaml"]) <= set(CONFIG)


@pytest.mark.parametrize("name", list(STAGES))
def test_each_dependency_exists_or_an_earlier_stage_writes_it(name: str) -> None:
    earlier = list(STAGES)[: list(STAGES).index(name)]
    written = {path for stage in earlier for path in outputs(STAGES[stage])}

    for dependency in STAGES[name]["deps"]:
        assert dependency in written or resolved(dependency).exists(), dependency


def test_metrics_and_plots_are_committed_to_git_not_cached() -> None:
    for stage in STAGES.values():
        for kind in ("metrics", "outs"):
            for entry in stage.get(kind, []):
                (options,) = entry.values()
                assert options == {"cache": False}
    plotted = {path for entry in PIPELINE["plots"] for path in entry}
    assert plotted <= {path for stage in STAGES.values() for path in outputs(stage)}


def test_the_dvc_file_holds_the_hash_and_size_of_the_data() -> None:
    recorded = yaml.safe_load(provenance.dvc_file(DEMO_DATA).read_text("utf-8"))

    (out,) = recorded["outs"]
    assert out["path"] == DEMO_DATA.name
    assert out["md5"] == provenance.file_md5(DEMO_DATA)
    assert out["size"] == DEMO_DATA.stat().st_size


def test_bytecode_is_not_hashed_as_a_dependency() -> None:
    ignored = (PROJECT_ROOT / ".dvcignore").read_text(encoding="utf-8").split()

    assert {"__pycache__/", "*.py[cod]"} <= set(ignored)


def test_the_training_run_records_the_data_version(trained: TrainingResult) -> None:
    tags = mlflow.get_run(trained.run_id).data.tags

    assert tags["dvc.data.md5"] == provenance.file_md5(DEMO_DATA)
    assert tags["dvc.data.modified"] == "false"
