"""The generated project's drift check tells when it fell behind its template.

A project is created with cruft from a git repository holding this template,
and its ``tools/template_drift.py`` runs as ``make template-drift`` runs it:
with real git and the cruft of this environment on the PATH. Variants of the
project point their ``.cruft.json`` at clones of that repository: one the
template moved on in, one moved away. The CI jobs that run the check are read
from rendered projects. The paths that need no cruft (skips, an unreadable
record) are tested in the generated project, tests/test_template_drift.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from baked import Cookies, bake
from helpers import (
    CRUFT,
    PROJECT_TEMPLATE_NAME,
    commit_all,
    copy_template_repository,
    cruft_create,
    run,
)

SCRIPT = "tools/template_drift.py"
NOT_LINKED = (
    "Template drift check skipped: not linked to a template"
    " (`cruft link TEMPLATE_URL`)"
)
ANNOTATION = " title=Template drift::"


def check_drift(
    project: Path, *options: str, github: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run the project's drift check with cruft on the PATH, on GitHub or not."""
    path = os.pathsep.join([str(Path(CRUFT).parent), os.environ["PATH"]])
    environment = {**os.environ, "PATH": path}
    environment.pop("GITHUB_ACTIONS", None)
    if github:
        environment["GITHUB_ACTIONS"] = "true"
    return subprocess.run(
        [sys.executable, SCRIPT, *options],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )


def project_copy(project: Path, destination: Path, **record: str) -> Path:
    """Copy ``project`` without git; ``record`` replaces keys of ``.cruft.json``."""
    shutil.copytree(project, destination, ignore=shutil.ignore_patterns(".git"))
    cruft_file = destination / ".cruft.json"
    state = json.loads(cruft_file.read_text(encoding="utf-8"))
    cruft_file.write_text(json.dumps({**state, **record}), encoding="utf-8")
    return destination


def unlinked_copy(project: Path, destination: Path) -> Path:
    """Copy ``project`` without git and without ``.cruft.json``."""
    (project_copy(project, destination) / ".cruft.json").unlink()
    return destination


def recipe(makefile: str, target: str) -> str:
    """Return the first command of ``target`` in the text of a Makefile."""
    lines = makefile.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{target}:"))
    return lines[start + 1]


def clone(template: Path, destination: Path) -> Path:
    """Clone the template repository into ``destination``; return it."""
    run("git", "clone", "-q", str(template), str(destination), cwd=template.parent)
    return destination


@pytest.fixture(scope="module", autouse=True)
def cached_bytecode(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Let the programs the tests start cache their bytecode, apart.

    cruft then starts in 1 s instead of 1.8 s; PYTHONDONTWRITEBYTECODE, set
    on the test machines, would have it compiled again on every run.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
        patch.setenv("PYTHONPYCACHEPREFIX", str(tmp_path_factory.mktemp("pycache")))
        yield


@pytest.fixture(scope="module")
def linked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A template repository and a project cruft created from it: up to date."""
    root = tmp_path_factory.mktemp("drift")
    template = copy_template_repository(root / "template")
    return template, cruft_create(template, root / "projects", {})


@pytest.fixture(scope="module")
def behind(
    linked: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    """The project linked to a clone of its template that moved on by a commit."""
    template, project = linked
    root = tmp_path_factory.mktemp("behind")
    moved_on = clone(template, root / "template")
    changelog = moved_on / PROJECT_TEMPLATE_NAME / "CHANGELOG.md"
    changelog.write_text("# Changes to {{ cookiecutter.project_name }}\n")
    commit_all(moved_on, "template v2: a changelog")
    return moved_on, project_copy(project, root / "project", template=str(moved_on))


def test_unlinked_project_passes_with_a_notice(
    linked: tuple[Path, Path], tmp_path: Path
) -> None:
    project = unlinked_copy(linked[1], tmp_path / "unlinked")

    completed = check_drift(project)

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == f"{NOT_LINKED}\n"
    assert completed.stderr == ""


def test_project_made_from_the_newest_template_commit_passes(
    linked: tuple[Path, Path],
) -> None:
    template, project = linked

    completed = check_drift(project)

    assert completed.returncode == 0, completed.stderr
    assert (
        completed.stdout == f"The project is up to date with its template {template}.\n"
    )
    assert completed.stderr == ""


def test_project_behind_its_template_fails_naming_it_and_cruft_update(
    behind: tuple[Path, Path],
) -> None:
    template, project = behind

    completed = check_drift(project)

    assert completed.returncode == 1
    assert completed.stderr == (
        f"Error: the project is behind its template {template}:"
        " `cruft update` brings the changes\n"
    )


def test_warn_only_reports_a_project_behind_as_a_warning_and_passes(
    behind: tuple[Path, Path],
) -> None:
    template, project = behind

    completed = check_drift(project, "--warn-only")

    assert completed.returncode == 0
    assert completed.stderr.startswith(
        f"Warning: the project is behind its template {template}:"
    )
    assert completed.stderr.count("\n") == 1


def test_unreachable_template_passes_with_a_notice_naming_it(
    linked: tuple[Path, Path], tmp_path: Path
) -> None:
    template = clone(linked[0], tmp_path / "template")
    project = project_copy(linked[1], tmp_path / "project", template=str(template))
    template.rename(tmp_path / "moved-away")

    completed = check_drift(project)

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith("Template drift check skipped: cannot reach")
    assert f" {template} " in completed.stdout
    assert completed.stdout.count("\n") == 1
    assert completed.stderr == ""


def test_other_cruft_failure_fails_with_its_last_line(
    linked: tuple[Path, Path], tmp_path: Path
) -> None:
    project = project_copy(linked[1], tmp_path / "project", checkout="no-such-branch")

    completed = check_drift(project)

    assert completed.returncode == 1
    assert completed.stderr.startswith("Error: cruft check failed: ")
    assert "no-such-branch" in completed.stderr
    assert completed.stderr.count("\n") == 1


def test_on_github_a_project_behind_is_a_warning_annotation(
    behind: tuple[Path, Path],
) -> None:
    completed = check_drift(behind[1], "--warn-only", github=True)

    assert completed.returncode == 0
    assert completed.stderr.startswith(f"::warning{ANNOTATION}the project is behind")


def test_on_github_an_error_is_an_error_annotation(
    linked: tuple[Path, Path], tmp_path: Path
) -> None:
    project = unlinked_copy(linked[1], tmp_path / "project")
    (project / ".cruft.json").write_text("{}", encoding="utf-8")

    completed = check_drift(project, github=True)

    assert completed.returncode == 1
    assert completed.stderr.startswith(f"::error{ANNOTATION}.cruft.json is not")


# --- the CI jobs that run it --------------------------------------------------


def test_github_workflow_warns_on_pull_requests_and_fails_on_schedule(
    cookies_session: Cookies,
) -> None:
    project = bake(cookies_session, ci="github", init_git="no")
    workflow = yaml.safe_load(project.read_text(".github/workflows/template-drift.yml"))
    job = workflow["jobs"]["template-drift"]
    steps = {step.get("if"): step.get("run") for step in job["steps"]}

    # PyYAML reads the key `on` as the boolean true.
    assert set(workflow[True]) == {"pull_request", "schedule", "workflow_dispatch"}
    assert workflow["permissions"] == {}
    assert job["permissions"] == {"contents": "read"}
    assert steps["github.event_name == 'pull_request'"] == (
        "make template-drift DRIFT_OPTIONS=--warn-only"
    )
    assert steps["github.event_name != 'pull_request'"] == "make template-drift"


def test_gitlab_job_fails_on_schedule_and_is_allowed_to_in_merge_requests(
    cookies_session: Cookies,
) -> None:
    project = bake(cookies_session, ci="gitlab", init_git="no")
    job = yaml.safe_load(project.read_text(".gitlab-ci.yml"))["template-drift"]

    assert job["needs"] == []
    assert job["rules"] == [
        {"if": '$CI_PIPELINE_SOURCE == "schedule"'},
        {"if": '$CI_PIPELINE_SOURCE == "merge_request_event"', "allow_failure": True},
    ]
    assert job["script"] == ["make template-drift"]


def test_make_check_leaves_the_online_drift_check_out(
    cookies_session: Cookies,
) -> None:
    project = bake(cookies_session, ci="none", init_git="no")
    makefile = project.read_text("Makefile")
    check = next(line for line in makefile.splitlines() if line.startswith("check:"))

    assert "template-drift" not in check
    assert recipe(makefile, "template-drift") == (
        "\tuv run --only-group template python tools/template_drift.py $(DRIFT_OPTIONS)"
    )
    assert project.pyproject["dependency-groups"]["template"] == ["cruft>=2.16"]
    assert "template" not in project.pyproject["tool"]["uv"]["default-groups"]
