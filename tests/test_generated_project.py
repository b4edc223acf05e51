"""Slow tier: each named combination installs and passes its own checks.

For every named combination (``COMBINATIONS`` in ``installed.py``), the
project is rendered once (a git repository with a first commit), its
environment is created once with uv (sharing uv's cache across the session)
on the interpreter of its minimum Python, and then the project's own Makefile
targets, pre-commit hooks, a wheel build and the CLI demo run in it as
subprocesses. The tests run once more on the newest supported Python, and the
CI files are validated offline.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest

from baked import Cookies
from helpers import check_jsonschema, zizmor_offline
from installed import (
    COMBINATIONS,
    Project,
    combination_answers,
    find_interpreter,
    installed_project,
)

pytestmark = pytest.mark.slow

NEWEST_PYTHON = "3.13"


@pytest.fixture(scope="session", params=COMBINATIONS)
def project(request: pytest.FixtureRequest, cookies_session: Cookies) -> Project:
    """Each named combination, rendered and installed once per session."""
    answers: dict[str, str] = request.param
    return installed_project(cookies_session, answers)


def test_environment_uses_the_minimum_python(project: Project) -> None:
    version = project.run(".venv/bin/python", "-c", "import sys; print(sys.version)")

    assert version.stdout.startswith(project.answers["python_version"] + ".")
    assert (project.path / "uv.lock").is_file()


def test_own_tests_pass_with_the_coverage_gate(project: Project) -> None:
    completed = project.run("make", "test")

    assert " passed" in completed.stdout
    assert " failed" not in completed.stdout
    assert "Required test coverage of 90" in completed.stdout


def test_own_tracking_server_tests_pass_apart_from_make_test(project: Project) -> None:
    server_tests = (project.path / "tests" / "test_local_server.py").read_text(
        encoding="utf-8"
    )

    completed = project.run("make", "test-server")

    passed = re.search(r"(\d+) passed", completed.stdout)
    assert passed is not None, completed.stdout
    assert int(passed.group(1)) == server_tests.count("\ndef test_")
    assert " failed" not in completed.stdout


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
    for module in ("__init__.py", "cli/__init__.py", "logging.yaml", "py.typed"):
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
    assert f'id="{project.package}.model.task.compute_metrics"' in api
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


def needs_a_newest_python_run() -> list[pytest.ParameterSet]:
    """Return a combination for each task not installed on the newest Python.

    The other tasks' tests already run on the newest Python in their own
    environment, so running them again there would install nothing new.
    """
    on_newest = {
        combination_answers(param)["task"]
        for param in COMBINATIONS
        if combination_answers(param)["python_version"] == NEWEST_PYTHON
    }
    chosen: dict[str, pytest.ParameterSet] = {}
    for param in COMBINATIONS:
        task = combination_answers(param)["task"]
        if task not in on_newest:
            chosen.setdefault(task, param)
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
    assert git_status(project) == []


def test_format_changes_nothing(project: Project) -> None:
    commits = project.run("git", "log", "--format=%s").stdout.splitlines()

    project.run("make", "format")

    assert commits == ["Initial commit from the ml-template"]
    assert git_status(project) == []


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
