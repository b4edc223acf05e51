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
import sys
from pathlib import Path

import pytest
from conftest import TEMPLATE_DIR

CRUFT = str(Path(sys.executable).with_name("cruft"))
ANSWERS = {"project_name": "Old Project", "init_git": "yes"}
SLUG = "old-project"


@pytest.fixture(autouse=True)
def git_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Give git (and the post-generation hook) a user of its own."""
    config = tmp_path / "gitconfig"
    config.write_text("[user]\n\tname = Template Tests\n\temail = tests@example.com\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


def run(*command: str, cwd: Path) -> str:
    completed = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed.stdout


def commit_all(repository: Path, message: str) -> str:
    run("git", "add", "-A", cwd=repository)
    run("git", "commit", "-q", "-m", message, cwd=repository)
    return run("git", "rev-parse", "HEAD", cwd=repository).strip()


def template_files() -> list[str]:
    """Tracked and new files of this checkout, as git would commit them."""
    listing = run(
        "git", "ls-files", "-z", "--cached", "--others", "--exclude-standard",
        cwd=TEMPLATE_DIR,
    )  # fmt: skip
    return [name for name in listing.split("\0") if (TEMPLATE_DIR / name).is_file()]


@pytest.fixture
def template_repository(tmp_path: Path) -> Path:
    """A git repository holding a copy of this template's working tree."""
    repository = tmp_path / "template"
    for name in template_files():
        target = repository / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(TEMPLATE_DIR / name, target)
    run("git", "init", "-q", "-b", "main", cwd=repository)
    commit_all(repository, "template v1")
    return repository


def test_cruft_update_brings_template_changes_into_an_old_project(
    template_repository: Path, tmp_path: Path
) -> None:
    projects = tmp_path / "projects"
    projects.mkdir()
    run(
        CRUFT, "create", "--no-input", "--output-dir", str(projects),
        "--extra-context", json.dumps(ANSWERS), str(template_repository),
        cwd=tmp_path,
    )  # fmt: skip
    project = projects / SLUG
    # The post-generation hook made the first commit; cruft then wrote its state.
    assert run("git", "status", "--porcelain", cwd=project) == "?? .cruft.json\n"
    commit_all(project, "Record template answers")
    readme = project / "README.md"
    readme.write_text(readme.read_text(encoding="utf-8") + "\nOur notes.\n")
    commit_all(project, "our own edit")

    changelog = template_repository / "{{cookiecutter.project_slug}}" / "CHANGELOG.md"
    changelog.write_text("# Changes to {{ cookiecutter.project_name }}\n")
    new_commit = commit_all(template_repository, "template v2: a changelog")
    run(CRUFT, "update", "--skip-apply-ask", cwd=project)

    assert (project / "CHANGELOG.md").read_text() == "# Changes to Old Project\n"
    assert readme.read_text(encoding="utf-8").endswith("\nOur notes.\n")
    cruft_state = json.loads((project / ".cruft.json").read_text(encoding="utf-8"))
    assert cruft_state["commit"] == new_commit
    assert cruft_state["context"]["cookiecutter"]["project_name"] == "Old Project"
