"""tools/template_drift.py: the drift check skips with a notice where it cannot compare.

These are the paths that need neither cruft nor the network: a project that
is not linked to a template, a template out of reach, an unreadable record.
The template's own tests run the comparison itself, with cruft, against a
template repository that moves on.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "tools" / "template_drift.py"
SKIPPED = "Template drift check skipped"
NOT_LINKED = f"{SKIPPED}: not linked to a template (`cruft link TEMPLATE_URL`)"


def check_drift(
    project: Path, *, github: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run the drift check in ``project``, as on GitHub Actions or not."""
    environment = {**os.environ, "GITHUB_ACTIONS": "true" if github else "false"}
    return subprocess.run(
        [sys.executable, str(SCRIPT)],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )


def link(project: Path, template: str) -> Path:
    """Write a ``.cruft.json`` into ``project`` as cruft does; return the project."""
    record = {"template": template, "commit": "0" * 40, "checkout": None}
    (project / ".cruft.json").write_text(json.dumps(record), encoding="utf-8")
    return project


def test_a_project_without_cruft_json_passes_with_a_notice(tmp_path: Path) -> None:
    completed = check_drift(tmp_path)

    assert completed.returncode == 0
    assert completed.stdout == f"{NOT_LINKED}\n"
    assert completed.stderr == ""


def test_on_github_actions_the_notice_is_an_annotation(tmp_path: Path) -> None:
    completed = check_drift(tmp_path, github=True)

    assert completed.returncode == 0
    assert completed.stdout == f"::notice::{NOT_LINKED}\n"


@pytest.mark.parametrize("kind", ["missing", "not-a-repository"])
def test_a_template_path_out_of_reach_passes_with_a_notice_naming_it(
    tmp_path: Path, kind: str
) -> None:
    template = tmp_path / "template"
    if kind == "not-a-repository":
        template.mkdir()
    project = tmp_path / "project"
    project.mkdir()

    completed = check_drift(link(project, str(template)))

    assert completed.returncode == 0
    assert completed.stdout == (
        f"{SKIPPED}: cannot reach the template {template} from here"
        " (docs/template.md)\n"
    )
    assert completed.stderr == ""


def test_credentials_in_the_template_url_are_not_shown(tmp_path: Path) -> None:
    # A socket bound but not listening: git's connection is refused at once.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        host = f"127.0.0.1:{sock.getsockname()[1]}"
        url = f"https://user:secret@{host}/template.git"

        completed = check_drift(link(tmp_path, url))

    assert completed.returncode == 0
    assert f"https://***@{host}/template.git" in completed.stdout
    assert "secret" not in completed.stdout + completed.stderr


@pytest.mark.parametrize("github", [False, True], ids=["terminal", "github"])
def test_an_unreadable_record_fails_with_one_line(tmp_path: Path, github: bool) -> None:
    (tmp_path / ".cruft.json").write_text("{not json", encoding="utf-8")

    completed = check_drift(tmp_path, github=github)

    prefix = "::error title=Template drift::" if github else "Error: "
    assert completed.returncode == 1
    assert completed.stderr.startswith(f"{prefix}.cruft.json is not a cruft record")
    assert completed.stderr.count("\n") == 1
    assert completed.stdout == ""
