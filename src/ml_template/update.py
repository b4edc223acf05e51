"""Bring a project up to its template's newest commit with ``cruft update``.

:func:`update_project` refuses a project with uncommitted changes (the update
could not be told apart from them), runs cruft's update without asking
questions, and returns the files that need a hand: those git left with
conflict markers and the ``.rej`` files of hunks that did not apply.
"""

from __future__ import annotations

from pathlib import Path

import cruft
from cruft.exceptions import CruftError

from ml_template.projects import FleetError, LinkedProject, git

# Two-letter `git status --porcelain` codes of a path with unresolved conflicts.
UNMERGED_CODES = frozenset({"DD", "AU", "UD", "UA", "DU", "AA", "UU"})


def status_lines(project: Path) -> list[str]:
    """Return ``git status --porcelain`` of ``project``, one line per path."""
    output = git("status", "--porcelain", "--untracked-files=all", cwd=project)
    return output.splitlines()


def refuse_uncommitted_changes(project: Path) -> None:
    """Raise ``FleetError`` unless ``project`` is a clean git work tree."""
    try:
        changes = status_lines(project)
    except FleetError as error:
        raise FleetError(f"not a git repository: {error}") from error
    if changes:
        paths = "1 path" if len(changes) == 1 else f"{len(changes)} paths"
        raise FleetError(
            f"uncommitted changes ({paths}): commit or stash them before updating"
        )


def files_to_resolve(project: Path) -> list[str]:
    """Return the paths with conflict markers and the ``.rej`` files, sorted."""
    paths = []
    for line in status_lines(project):
        code, path = line[:2], line[3:]
        if code in UNMERGED_CODES or (code == "??" and path.endswith(".rej")):
            paths.append(path)
    return sorted(paths)


def update_project(project: LinkedProject) -> list[str]:
    """Update ``project`` to its template's newest commit; return files to resolve.

    The project follows the branch or tag it recorded. Raises ``FleetError``
    when the work tree is not clean or cruft cannot update.
    """
    refuse_uncommitted_changes(project.path)
    try:
        updated = cruft.update(
            project_dir=project.path,
            template_path=project.local_template(),
            checkout=project.checkout,
            cookiecutter_input=False,
            skip_apply_ask=True,
        )
    except CruftError as error:
        raise FleetError(error.format_message()) from error
    if not updated:
        raise FleetError("cruft could not update it")
    return files_to_resolve(project.path)
