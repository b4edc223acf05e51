"""Projects made from the template, as cruft records them in ``.cruft.json``.

``cruft create`` and ``cruft link`` write ``.cruft.json`` into a project: the
template's source (a git URL, a cookiecutter abbreviation such as ``gh:org/x``
or a local path), the template commit the project was rendered or last updated
from, the branch or tag it follows (``checkout``), and the answers. The fleet
commands read it through :func:`read_linked_project`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cookiecutter.repository import is_repo_url

CRUFT_FILE = ".cruft.json"
# A cookiecutter abbreviation such as gh:org/name (a letter before the colon
# tells it from a Windows drive).
ABBREVIATION = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+:[^/\\].*")
# Seconds before a git command gives up, cloning a remote template included.
GIT_TIMEOUT = 300


class FleetError(Exception):
    """A project or template the fleet commands cannot use; one line for the user."""


class NotLinkedError(FleetError):
    """A project without ``.cruft.json``: it does not know its template."""

    def __init__(self, project: Path) -> None:
        super().__init__(
            f"not linked to a template (no {CRUFT_FILE}):"
            f" run `cruft link TEMPLATE_URL` in {project}"
        )


@dataclass(frozen=True)
class LinkedProject:
    """A project and what its ``.cruft.json`` says about its template.

    Attributes
    ----------
    path : Path
        The project directory.
    template : str
        The template's source as recorded: URL, abbreviation or path.
    commit : str
        The template commit the project was rendered or last updated from.
    checkout : str or None
        The branch or tag the project follows; ``None`` for the default branch.
    answers : dict
        The recorded answers, without cookiecutter's private ``_`` entries.
    """

    path: Path
    template: str
    commit: str
    checkout: str | None
    answers: dict[str, Any]

    def local_template(self) -> Path | None:
        """Return the template's directory if it is recorded as a path, else ``None``.

        cruft records the path it was given; a relative one is taken from
        the project's directory, where cruft's commands are run.
        """
        abbreviated = ABBREVIATION.fullmatch(self.template) is not None
        if is_repo_url(self.template) or abbreviated:
            return None
        return self.path / self.template


def read_linked_project(project: Path) -> LinkedProject:
    """Read ``project``'s ``.cruft.json``; raise ``FleetError`` if unusable.

    Like every ``FleetError`` about a project, the message leaves out the
    project's path, which the caller prints in front of it.
    """
    if not project.is_dir():
        raise FleetError("not a directory")
    path = project / CRUFT_FILE
    if not path.is_file():
        raise NotLinkedError(project)
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        answers = state["context"]["cookiecutter"]
        linked = LinkedProject(
            path=project,
            template=str(state["template"]),
            commit=str(state["commit"]),
            checkout=state.get("checkout") or None,
            answers={k: v for k, v in answers.items() if not k.startswith("_")},
        )
    except OSError as error:
        raise FleetError(f"cannot read {CRUFT_FILE}: {error.strerror}") from error
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise FleetError(f"{CRUFT_FILE} is not a cruft record: {error}") from error
    return linked


def git(*arguments: str, cwd: Path) -> str:
    """Run git in ``cwd`` and return its output; raise ``FleetError`` if it fails.

    Git never prompts for credentials here: a template that needs them and
    has none fails at once instead of waiting for input.
    """
    environment = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    try:
        # Git from the PATH, as the user runs it, with arguments built here.
        completed = subprocess.run(  # noqa: S603
            ["git", *arguments],  # noqa: S607
            cwd=cwd,
            env=environment,
            capture_output=True,
            text=True,
            check=False,
            timeout=GIT_TIMEOUT,
        )
    except FileNotFoundError as error:
        raise FleetError("git is not installed: the fleet commands need it") from error
    except subprocess.TimeoutExpired as error:
        message = f"git {arguments[0]} gave no answer in {GIT_TIMEOUT} s"
        raise FleetError(message) from error
    if completed.returncode != 0:
        raise FleetError(last_line(completed.stderr) or f"git {arguments[0]} failed")
    return completed.stdout.strip()


def last_line(text: str) -> str:
    """Return the last non-blank line of ``text``, stripped; empty if none."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""
