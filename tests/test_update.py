"""Old projects take in later template changes with cruft.

A project created from one commit of the template is updated to a later
commit: the template's change arrives, the user's own edits stay, and
``.cruft.json`` records the new commit. Everything runs locally: the template
is a git repository in a temporary directory.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import (
    CRUFT,
    PROJECT_TEMPLATE_NAME,
    TEMPLATE_DIR,
    commit_all,
    copy_template_repository,
    copy_working_tree,
    cruft_create,
    run,
)

ANSWERS = {"project_name": "Old Project"}
SLUG = "old-project"
# The template before the generated package was regrouped into subpackages.
# CI runs on a full clone of this repository, which has the commit.
BEFORE_REGROUPING = "4812e04"
DEFAULT_SLUG = "ml-project"
CONFLICT_MARKERS = (b"<<<<<<<", b">>>>>>>")


@pytest.fixture
def template_repository(tmp_path: Path) -> Path:
    """A git repository holding a copy of this template's working tree."""
    return copy_template_repository(tmp_path / "template")


def test_cruft_update_brings_template_changes_into_an_old_project(
    template_repository: Path, tmp_path: Path
) -> None:
    project = cruft_create(template_repository, tmp_path / "projects", ANSWERS)
    assert project.name == SLUG
    readme = project / "README.md"
    readme.write_text(readme.read_text(encoding="utf-8") + "\nOur notes.\n")
    commit_all(project, "our own edit")

    changelog = template_repository / PROJECT_TEMPLATE_NAME / "CHANGELOG.md"
    changelog.write_text("# Changes to {{ cookiecutter.project_name }}\n")
    new_commit = commit_all(template_repository, "template v2: a changelog")
    run(CRUFT, "update", "--skip-apply-ask", cwd=project)

    assert (project / "CHANGELOG.md").read_text() == "# Changes to Old Project\n"
    assert readme.read_text(encoding="utf-8").endswith("\nOur notes.\n")
    cruft_state = json.loads((project / ".cruft.json").read_text(encoding="utf-8"))
    assert cruft_state["commit"] == new_commit
    assert cruft_state["context"]["cookiecutter"]["project_name"] == "Old Project"


# --- a project from before the package's regrouping ---------------------------


def project_tree(project: Path) -> dict[str, bytes]:
    """Return every file of ``project`` by relative path, without git's or cruft's."""
    return {
        path.relative_to(project).as_posix(): path.read_bytes()
        for path in project.rglob("*")
        if path.is_file()
        and path.relative_to(project).parts[0] != ".git"
        and path.name != ".cruft.json"
    }


def status_paths(project: Path) -> set[str]:
    """Return the paths ``git status`` lists; fail on any merge conflict."""
    status = run(
        "git", "status", "--porcelain", "--no-renames", "--untracked-files=all",
        cwd=project,
    )  # fmt: skip
    lines = status.splitlines()
    assert [line for line in lines if "U" in line[:2]] == []
    return {line[3:] for line in lines}


@pytest.fixture
def template_before_regrouping(tmp_path: Path) -> Path:
    """A git repository holding the template at ``BEFORE_REGROUPING``."""
    found = subprocess.run(
        ["git", "cat-file", "-e", f"{BEFORE_REGROUPING}^{{commit}}"],
        cwd=TEMPLATE_DIR,
        capture_output=True,
        check=False,
    )
    missing = f"commit {BEFORE_REGROUPING} is missing: this test needs a full clone"
    assert found.returncode == 0, missing
    repository = tmp_path / "template"
    repository.mkdir()
    archive = subprocess.run(
        ["git", "archive", BEFORE_REGROUPING],
        cwd=TEMPLATE_DIR,
        capture_output=True,
        check=True,
    )
    subprocess.run(
        ["tar", "-x", "-C", str(repository)],
        input=archive.stdout,
        capture_output=True,
        check=True,
    )
    run("git", "init", "-q", "-b", "main", cwd=repository)
    commit_all(repository, "v1")
    return repository


# Two renders of the whole template and a cruft update: seconds, slow tier.
@pytest.mark.slow
def test_cruft_update_from_before_the_regrouping_equals_a_fresh_project(
    template_before_regrouping: Path, tmp_path: Path
) -> None:
    template = template_before_regrouping
    answers: dict[str, str] = {}
    project = cruft_create(template, tmp_path / "projects", answers)
    assert project.name == DEFAULT_SLUG
    before = project_tree(project)

    for child in template.iterdir():
        if child.is_dir() and child.name != ".git":
            shutil.rmtree(child)
        elif child.is_file():
            child.unlink()
    copy_working_tree(template)
    new_commit = commit_all(template, "v2")
    run(CRUFT, "update", "--skip-apply-ask", cwd=project)
    fresh = project_tree(cruft_create(template, tmp_path / "fresh", answers))

    after = project_tree(project)
    # The regrouping moved modules into subpackages; so did the update.
    assert "src/ml_project/cli.py" in before
    assert "src/ml_project/cli/__init__.py" in after
    assert sorted(project.rglob("*.rej")) == []
    conflicts = [
        f"{relative}:{number}"
        for relative, content in after.items()
        for number, line in enumerate(content.splitlines(), start=1)
        if line.startswith(CONFLICT_MARKERS)
    ]
    assert conflicts == []
    paths = before.keys() | fresh.keys()
    changed = {path for path in paths if before.get(path) != fresh.get(path)}
    assert changed
    assert status_paths(project) == changed | {".cruft.json"}
    assert sorted(after) == sorted(fresh)
    assert after == fresh
    assert [path for path in fresh if after[path] != fresh[path]] == []
    cruft_state = json.loads((project / ".cruft.json").read_text(encoding="utf-8"))
    assert cruft_state["commit"] == new_commit
