"""Slow tier: each named combination installs and passes its own checks.

For every combination below, the project is rendered once (a git repository
with a first commit), its environment is created once with uv (sharing uv's
cache across the session) on the interpreter of its minimum Python, and then
the project's own Makefile targets, pre-commit hooks, a wheel build and the CLI
demo run in it as subprocesses. The tests run once more on the newest
supported Python, and the CI files are validated offline.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import check_jsonschema, zizmor_offline
from uv import find_uv_bin

pytestmark = pytest.mark.slow

# Oldest and newest supported Python, both tasks, several licenses, every CI.
COMBINATIONS: dict[str, dict[str, str]] = {
    "classification-py3.11-github": {
        "task": "classification",
        "python_version": "3.11",
        "ci": "github",
    },
    "regression-py3.10-gitlab": {
        "task": "regression",
        "python_version": "3.10",
        "license": "Apache-2.0",
        "ci": "gitlab",
    },
    "classification-py3.13-none": {
        "task": "classification",
        "python_version": "3.13",
        "license": "Proprietary",
        "ci": "none",
    },
}
NEWEST_PYTHON = "3.13"
COMMAND_TIMEOUT = 900


def reports_version(interpreter: str, version: str) -> bool:
    """Whether ``interpreter`` runs and is Python ``version`` (pyenv shims may not)."""
    code = "import sys; print('%d.%d' % sys.version_info[:2])"
    completed = subprocess.run(
        [interpreter, "-c", code], capture_output=True, text=True, check=False
    )
    return completed.returncode == 0 and completed.stdout.strip() == version


def find_interpreter(version: str) -> str | None:
    """Return a working Python ``version`` interpreter of this machine, if any."""
    pattern = os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python{version}")
    candidates = [*sorted(glob.glob(pattern), reverse=True)]
    on_path = shutil.which(f"python{version}")
    if on_path:
        candidates.append(on_path)
    return next((path for path in candidates if reports_version(path, version)), None)


def subprocess_environment(uv: str) -> dict[str, str]:
    """Environment for commands in a generated project, outside this test venv."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"VIRTUAL_ENV", "UV_COMPILE_BYTECODE", "PYTHONPATH"}
    }
    env["PATH"] = os.pathsep.join([str(Path(uv).parent), env.get("PATH", "")])
    env["UV_PYTHON_DOWNLOADS"] = "never"
    env["UV_NO_PROGRESS"] = "1"
    return env


@dataclass(frozen=True)
class Project:
    """A rendered project with its environment created."""

    path: Path
    answers: dict[str, Any]
    uv: str

    @property
    def slug(self) -> str:
        """The distribution and console script name."""
        return str(self.answers["project_slug"])

    @property
    def package(self) -> str:
        """The import name."""
        return str(self.answers["package_name"])

    def environment(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """Environment for commands in the project, plus ``extra`` variables."""
        return {**subprocess_environment(self.uv), **(extra or {})}

    def run(
        self, *command: str, extra_env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run ``command`` in the project; on failure, fail with its output."""
        completed = subprocess.run(
            command,
            cwd=self.path,
            env=self.environment(extra_env),
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
        assert completed.returncode == 0, (
            f"{' '.join(command)} exited {completed.returncode}\n"
            f"--- stdout\n{completed.stdout}\n--- stderr\n{completed.stderr}"
        )
        return completed

    def cli(
        self, *arguments: str, extra_env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run the project's console script from its environment."""
        script = str(self.path / ".venv" / "bin" / self.slug)
        return self.run(script, *arguments, extra_env=extra_env)


_INSTALLED: dict[str, Project] = {}


def installed_project(cookies_session: Any, name: str) -> Project:
    """Render combination ``name`` and create its environment, once per session.

    The other slow modules take their projects from here too, so no
    environment is installed twice in one run.
    """
    if name not in _INSTALLED:
        answers = COMBINATIONS[name]
        interpreter = find_interpreter(answers["python_version"])
        if interpreter is None:
            pytest.skip(f"Python {answers['python_version']} is not on this machine")
        result = cookies_session.bake(extra_context=answers)
        assert result.exit_code == 0, result.exception
        created = Project(Path(result.project_path), result.context, find_uv_bin())
        created.run(created.uv, "sync", "--compile-bytecode", "--python", interpreter)
        _INSTALLED[name] = created
    return _INSTALLED[name]


@pytest.fixture(scope="session", params=list(COMBINATIONS), ids=list(COMBINATIONS))
def project(request: pytest.FixtureRequest, cookies_session: Any) -> Project:
    """Each named combination, rendered and installed once per session."""
    return installed_project(cookies_session, request.param)


def test_environment_uses_the_minimum_python(project: Project) -> None:
    version = project.run(".venv/bin/python", "-c", "import sys; print(sys.version)")

    assert version.stdout.startswith(project.answers["python_version"] + ".")
    assert (project.path / "uv.lock").is_file()


def test_own_tests_pass_with_the_coverage_gate(project: Project) -> None:
    completed = project.run("make", "test")

    assert " passed" in completed.stdout
    assert " failed" not in completed.stdout
    assert "Required test coverage of 90" in completed.stdout


def test_lint_is_clean(project: Project) -> None:
    completed = project.run("make", "lint")

    assert "All checks passed!" in completed.stdout
    assert "would be left unchanged" in completed.stderr


def test_type_check_is_clean(project: Project) -> None:
    completed = project.run("make", "typecheck")

    assert "Success: no issues found" in completed.stdout


def test_wheel_builds_with_package_data_and_console_script(project: Project) -> None:
    project.run("make", "build")

    (wheel,) = (project.path / "dist").glob("*.whl")
    assert len(list((project.path / "dist").glob("*.tar.gz"))) == 1
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(name for name in names if name.endswith("entry_points.txt"))
        scripts = archive.read(entry_points).decode()
    for module in ("__init__.py", "cli.py", "logging.yaml", "py.typed"):
        assert f"{project.package}/{module}" in names
    assert f"{project.slug} = {project.package}.cli:main" in scripts


def champion_version(project: Project) -> int:
    """Ask MLflow, in the project's environment, which version is the champion."""
    code = (
        "import sys; from mlflow import MlflowClient;"
        "client = MlflowClient('sqlite:///mlflow.db');"
        "print(client.get_model_version_by_alias(sys.argv[1], 'champion').version)"
    )
    completed = project.run(".venv/bin/python", "-c", code, project.slug)
    return int(completed.stdout.strip().splitlines()[-1])


def test_cli_demo_trains_evaluates_and_predicts(project: Project) -> None:
    trained = project.cli("train")
    evaluated = project.cli("evaluate")
    predicted = project.cli(
        "predict", "data/penguins.csv", "--output", "predictions.csv", "--keep", "year"
    )

    assert "Registered version 1; no champion yet" in trained.stdout
    assert champion_version(project) == 1
    metric = "accuracy" if project.answers["task"] == "classification" else "rmse"
    assert f"{metric}: " in evaluated.stdout
    rows = (project.path / "data" / "penguins.csv").read_text().splitlines()[1:]
    written = (project.path / "predictions.csv").read_text().splitlines()
    assert written[0] == "year,prediction"
    assert len(written) - 1 == len(rows)
    assert "Wrote 344 predictions to predictions.csv" in predicted.stdout


def test_docs_build_without_warnings(project: Project) -> None:
    completed = project.run("make", "docs")

    html = project.path / "docs" / "_build" / "html"
    assert "build succeeded." in completed.stdout
    assert "WARNING" not in completed.stdout + completed.stderr
    api = (html / "api.html").read_text(encoding="utf-8")
    assert f'id="{project.package}.config.load_config"' in api
    assert f'id="{project.package}.{project.answers["task"]}.compute_metrics"' in api
    cli = (html / "cli.html").read_text(encoding="utf-8")
    for command in ("train", "evaluate", "predict"):
        assert f'<section id="{project.slug}-{command}"' in cli
    assert f'id="cmdoption-{project.slug}-predict-chunk-size"' in cli
    index = (html / "index.html").read_text(encoding="utf-8")
    assert "Bring your own data" in index
    assert "No model card has been exported here yet" in (
        html / "model_card.html"
    ).read_text(encoding="utf-8")


def test_docs_build_with_the_champions_model_card(project: Project) -> None:
    placeholder = project.path / "docs" / "model_card.md"
    original = placeholder.read_text(encoding="utf-8")
    try:
        project.cli("train")
        exported = project.cli("model-card")
        completed = project.run("make", "docs")
    finally:
        card = placeholder.read_text(encoding="utf-8")
        placeholder.write_text(original, encoding="utf-8")

    assert "Wrote the model card of version" in exported.stdout
    assert card.startswith(f"# Model card: {project.slug}")
    assert "build succeeded." in completed.stdout
    assert "WARNING" not in completed.stdout + completed.stderr
    html = project.path / "docs" / "_build" / "html" / "model_card.html"
    assert "Intended use" in html.read_text(encoding="utf-8")


def needs_a_newest_python_run() -> list[str]:
    """Return a combination for each task not installed on the newest Python.

    The other tasks' tests already run on the newest Python in their own
    environment, so running them again there would install nothing new.
    """
    on_newest = {
        answers["task"]
        for answers in COMBINATIONS.values()
        if answers["python_version"] == NEWEST_PYTHON
    }
    chosen: dict[str, str] = {}
    for name, answers in COMBINATIONS.items():
        if answers["task"] not in on_newest:
            chosen.setdefault(answers["task"], name)
    return list(chosen.values())


@pytest.mark.parametrize("project", needs_a_newest_python_run(), indirect=True)
def test_own_tests_pass_on_the_newest_python(project: Project, tmp_path: Path) -> None:
    interpreter = find_interpreter(NEWEST_PYTHON)
    if interpreter is None:
        pytest.skip(f"Python {NEWEST_PYTHON} is not on this machine")
    newest = {"UV_PROJECT_ENVIRONMENT": str(tmp_path / "venv")}
    uv_run = [project.uv, "run", "--frozen", "--compile-bytecode"]
    uv_run += ["--python", interpreter]
    version = "import sys; print('%d.%d' % sys.version_info[:2])"

    ran = project.run(*uv_run, "python", "-c", version, extra_env=newest)
    completed = project.run(
        *uv_run, "pytest", "-q", "-p", "no:cacheprovider", extra_env=newest
    )

    assert ran.stdout.strip() == NEWEST_PYTHON
    assert " passed" in completed.stdout
    assert " failed" not in completed.stdout


def git_status(project: Project) -> list[str]:
    """Return ``git status --porcelain`` of the project, line by line."""
    return project.run("git", "status", "--porcelain").stdout.splitlines()


def test_pre_commit_hooks_pass_on_every_file(project: Project) -> None:
    completed = project.run(
        project.uv, "run", "--frozen", "pre-commit", "run", "--all-files"
    )

    hooks = [line for line in completed.stdout.splitlines() if "..." in line]
    assert len(hooks) == 10
    assert all(line.endswith(("Passed", "Skipped")) for line in hooks), hooks
    assert git_status(project) == ["?? uv.lock"]


def test_format_changes_nothing(project: Project) -> None:
    commits = project.run("git", "log", "--format=%s").stdout.splitlines()

    project.run("make", "format")

    assert commits == ["Initial commit from the ml-template"]
    assert git_status(project) == ["?? uv.lock"]


def test_ci_files_are_valid(project: Project) -> None:
    ci = project.answers["ci"]
    github = project.path / ".github"
    gitlab = project.path / ".gitlab-ci.yml"

    assert github.is_dir() == (ci == "github")
    assert gitlab.is_file() == (ci == "gitlab")
    if ci == "github":
        check_jsonschema("vendor.github-workflows", [github / "workflows" / "ci.yml"])
        check_jsonschema("vendor.dependabot", [github / "dependabot.yml"])
        zizmor_offline(project.path)
    if ci == "gitlab":
        check_jsonschema("vendor.gitlab-ci", [gitlab], "--data-transform", "gitlab-ci")
