"""The fleet commands: organization defaults, ``status`` and ``update``.

Every command runs as the installed ``ml-template`` script in a subprocess,
against real git repositories: a copy of this template committed in a
temporary directory, and projects created from it with cruft.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sysconfig
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from helpers import (
    PROJECT_TEMPLATE_NAME,
    TEMPLATE_DIR,
    commit_all,
    copy_template_repository,
    cruft_create,
    run_captured,
)
from ml_template.cli import main

SLUG = "fleet-member"
ANSWERS = {"project_name": "Fleet Member"}
README_HEADING = "## Organization defaults"


@pytest.fixture(scope="module")
def cli() -> Path:
    """Return the ``ml-template`` script installed in the development env."""
    return Path(sysconfig.get_path("scripts")) / "ml-template"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """Return an environment whose cookiecutter config keeps replays in tmp."""
    home = tmp_path / "cookiecutter-home"
    home.mkdir()
    config = home / "config.yaml"
    config.write_text(
        json.dumps({"replay_dir": str(home / "replay")}), encoding="utf-8"
    )
    return {**os.environ, "COOKIECUTTER_CONFIG": str(config)}


@pytest.fixture
def template(tmp_path: Path) -> Path:
    """A git repository holding a copy of this template's working tree."""
    return copy_template_repository(tmp_path / "template")


@pytest.fixture
def project(template: Path, tmp_path: Path) -> Path:
    """A project created from ``template`` with cruft, committed."""
    return cruft_create(template, tmp_path / "projects", ANSWERS)


def change_template(template: Path, relative: str, text: str) -> str:
    """Write ``text`` to ``relative`` in the project template; return the commit."""
    path = template / PROJECT_TEMPLATE_NAME / relative
    path.write_text(text, encoding="utf-8")
    return commit_all(template, f"template: {relative}")


def recorded_commit(project: Path) -> str:
    """Return the template commit that ``project``'s ``.cruft.json`` records."""
    state = json.loads((project / ".cruft.json").read_text(encoding="utf-8"))
    commit: str = state["commit"]
    return commit


def tree(project: Path) -> dict[str, bytes]:
    """Return every file of ``project`` but git's, by relative path."""
    return {
        path.relative_to(project).as_posix(): path.read_bytes()
        for path in project.rglob("*")
        if path.is_file() and ".git" not in path.relative_to(project).parts
    }


def one_error_line(completed: subprocess.CompletedProcess[str]) -> str:
    """Check a failed run printed one ``Error:`` line on stderr; return it."""
    assert completed.returncode == 1, completed.stdout + completed.stderr
    lines = completed.stderr.splitlines()
    assert len(lines) == 1, completed.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


# --- organization defaults ------------------------------------------------------


def documented_defaults() -> str:
    """Return the example organization defaults file of the template's README."""
    readme = (TEMPLATE_DIR / "README.md").read_text(encoding="utf-8")
    section = readme.split(README_HEADING, 1)[1]
    found = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert found, f"no YAML example under {README_HEADING!r} in README.md"
    return found.group(1)


@pytest.fixture
def defaults_file(tmp_path: Path) -> Path:
    """The README's example defaults, written to a file."""
    path = tmp_path / "acme.yaml"
    path.write_text(documented_defaults(), encoding="utf-8")
    return path


def render(
    cli: Path, output: Path, env: dict[str, str], *arguments: str | Path
) -> Path:
    """Render with ``arguments`` and no prompts into ``output``; return the project."""
    command = [cli, "--no-input", "-o", output, "init_git=no", *arguments]
    completed = run_captured(command, output.parent, env)
    assert completed.returncode == 0, completed.stderr
    (project,) = output.iterdir()
    return project


def test_organization_defaults_reach_the_rendered_files(
    cli: Path, defaults_file: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    defaults = yaml.safe_load(defaults_file.read_text(encoding="utf-8"))
    answers = defaults["default_context"]

    project = render(cli, tmp_path / "out", env, "--config-file", defaults_file)

    license_text = (project / "LICENSE").read_text(encoding="utf-8")
    assert answers["organization"] in license_text
    assert "Apache License" in license_text
    assert answers["license"] == "Apache-2.0"
    assert answers["ci"] == "gitlab"
    assert (project / ".gitlab-ci.yml").is_file()
    assert not (project / ".github").exists()
    pyproject = (project / "pyproject.toml").read_text(encoding="utf-8")
    assert f'requires-python = ">={answers["python_version"]}"' in pyproject


def test_the_user_configuration_holds_defaults_and_answers_win(
    cli: Path, defaults_file: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    user_env = {**env, "COOKIECUTTER_CONFIG": str(defaults_file)}

    project = render(cli, tmp_path / "out", user_env, "license=MIT")

    assert (project / ".gitlab-ci.yml").is_file()
    assert "MIT License" in (project / "LICENSE").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("default_context:\n  organisation: Acme\n", "'organisation' is not a"),
        ("default_context:\n  python_version: 3.10\n", 'e.g. python_version: "3.1"'),
        ("default_context:\n  ci: jenkins\n", "ci 'jenkins' is not allowed"),
        ("default_context: [ci]\n", "default_context must be a mapping"),
        ("default_context:\n  ci: [github\n", "not valid YAML: expected ',' or ']'"),
    ],
)
def test_a_bad_defaults_file_is_one_line_and_writes_nothing(
    tmp_path: Path, text: str, message: str
) -> None:
    config = tmp_path / "defaults.yaml"
    config.write_text(text, encoding="utf-8")
    output = tmp_path / "out"
    output.mkdir()
    arguments = ["--no-input", "-o", str(output), "--config-file", str(config)]

    # The file is refused before cookiecutter runs, so in-process is faithful.
    result = CliRunner().invoke(main, arguments)

    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"Error: {config}: ")
    assert message in lines[0]
    assert list(output.iterdir()) == []


# --- status ---------------------------------------------------------------------


def test_status_says_whether_a_project_is_behind_its_template(
    cli: Path, template: Path, project: Path, tmp_path: Path
) -> None:
    current = run_captured([cli, "status", project], tmp_path)
    change_template(template, "CHANGELOG.md", "# Changes\n")
    newest = change_template(template, "CHANGELOG.md", "# Changes, again\n")
    behind = run_captured([cli, "status", project], tmp_path)

    assert current.returncode == 0, current.stdout + current.stderr
    commit = recorded_commit(project)
    assert current.stdout == f"{project}: up to date ({commit[:12]})\n"
    assert behind.returncode == 1
    assert behind.stdout.startswith(
        f"{project}: behind by 2 commits ({commit[:12]} -> {newest[:12]}):"
        f" run `ml-template update {project}`"
    )


def test_status_finds_a_relative_template_path_from_the_project(
    cli: Path, template: Path, project: Path, tmp_path: Path
) -> None:
    record = project / ".cruft.json"
    state = json.loads(record.read_text(encoding="utf-8"))
    state["template"] = os.path.relpath(template, project)
    record.write_text(json.dumps(state), encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    completed = run_captured([cli, "status", project], elsewhere)

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert completed.stdout.startswith(f"{project}: up to date")


def test_status_checks_the_recorded_answers_with_the_newest_template(
    cli: Path, template: Path, project: Path, tmp_path: Path
) -> None:
    options = json.loads((template / "cookiecutter.json").read_text(encoding="utf-8"))
    options["task"] = ["regression"]
    (template / "cookiecutter.json").write_text(json.dumps(options), encoding="utf-8")
    commit_all(template, "template: regression only")

    completed = run_captured([cli, "status", project], tmp_path)

    assert completed.returncode == 1
    assert "its answers fail the template's checks" in completed.stdout
    assert "classification provided for choice variable task" in completed.stdout


def test_status_reports_unlinked_and_unreachable_projects(
    cli: Path, template: Path, project: Path, tmp_path: Path
) -> None:
    unlinked = tmp_path / "unlinked"
    unlinked.mkdir()
    template.rename(tmp_path / "moved")

    completed = run_captured([cli, "status", project, unlinked], tmp_path)

    assert completed.returncode == 1
    lines = completed.stdout.splitlines()
    assert lines[0].startswith(f"{project}: template {template} is unreachable")
    assert lines[1].startswith(f"{unlinked}: not linked to a template")
    assert "cruft link" in lines[1]
    assert lines[2] == "0 of 2 projects up to date"


def test_status_names_a_missing_branch_and_a_broken_record(
    cli: Path, project: Path, tmp_path: Path
) -> None:
    record = project / ".cruft.json"
    state = json.loads(record.read_text(encoding="utf-8"))
    record.write_text(json.dumps({**state, "checkout": "v9"}), encoding="utf-8")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / ".cruft.json").write_text("{", encoding="utf-8")

    completed = run_captured([cli, "status", project, broken], tmp_path)

    assert completed.returncode == 1
    lines = completed.stdout.splitlines()
    assert lines[0].startswith(f"{project}: template ")
    assert lines[0].endswith(" has no branch or tag 'v9'")
    assert lines[1].startswith(f"{broken}: .cruft.json is not a cruft record: ")
    assert completed.stderr == ""


# --- update ---------------------------------------------------------------------


def test_update_refuses_a_dirty_work_tree_and_changes_nothing(
    cli: Path, template: Path, project: Path, tmp_path: Path
) -> None:
    change_template(template, "CHANGELOG.md", "# Changes\n")
    readme = project / "README.md"
    readme.write_text(readme.read_text(encoding="utf-8") + "\nWork in progress.\n")
    before = tree(project)

    completed = run_captured([cli, "update", project], tmp_path)

    assert "uncommitted changes (1 path)" in one_error_line(completed)
    assert completed.stdout == ""
    assert tree(project) == before


def test_update_brings_the_template_change(
    cli: Path, template: Path, project: Path, tmp_path: Path
) -> None:
    old = recorded_commit(project)
    new = change_template(template, "CHANGELOG.md", "# Changes\n")

    completed = run_captured([cli, "update", project], tmp_path)

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert (project / "CHANGELOG.md").read_text(encoding="utf-8") == "# Changes\n"
    assert recorded_commit(project) == new
    assert f"{project}: updated from {old[:12]} to {new[:12]}" in completed.stdout


def test_update_lists_the_files_left_with_conflicts(
    cli: Path, template: Path, project: Path, tmp_path: Path
) -> None:
    readme = project / "README.md"
    body = readme.read_text(encoding="utf-8").split("\n", 1)[1]
    readme.write_text("# Our own title\n" + body, encoding="utf-8")
    commit_all(project, "our title")
    template_readme = template / PROJECT_TEMPLATE_NAME / "README.md"
    template_body = template_readme.read_text(encoding="utf-8").split("\n", 1)[1]
    change_template(
        template, "README.md", "# The template's new title\n" + template_body
    )

    completed = run_captured([cli, "update", project], tmp_path)

    assert completed.returncode == 1
    listing = completed.stdout.split("Resolve the conflicts in these files by hand")[1]
    assert listing.splitlines()[1:] == ["  README.md"]
