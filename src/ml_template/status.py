"""Whether projects made from the template have fallen behind it.

For each project, :func:`project_status` compares the template commit its
``.cruft.json`` records with the newest commit of the template's branch,
counts the commits in between, and renders the template's newest version with
the recorded answers (in a temporary directory, hooks included) to see
whether they still pass its checks. Each template source is cloned once per
run, however many projects share it.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cookiecutter.config import get_user_config
from cookiecutter.repository import expand_abbreviations

from ml_template.projects import FleetError, LinkedProject, git, last_line

# The answer that would make a trial render lock dependencies and run git.
NO_GIT = {"init_git": "no"}
# Seconds a trial render may take before it counts as failed.
TRIAL_TIMEOUT = 300


@dataclass(frozen=True)
class TemplateHead:
    """The newest commit of a template's branch, checked out in ``directory``."""

    directory: Path
    commit: str


@dataclass(frozen=True)
class ProjectStatus:
    """What :func:`project_status` found out about one project.

    Attributes
    ----------
    project : LinkedProject
        The project and its record.
    head : str
        The newest commit of the template's branch.
    behind : int or None
        Template commits since the project's; ``None`` when the recorded commit
        is not in the branch's history.
    answers_problem : str or None
        Why the recorded answers fail the template's checks; ``None`` if they pass.
    """

    project: LinkedProject
    head: str
    behind: int | None
    answers_problem: str | None

    @property
    def up_to_date(self) -> bool:
        """Whether the project has the newest template and valid answers."""
        return self.behind == 0 and self.answers_problem is None


class TemplateCache:
    """Clones of template sources, made once each, in one temporary directory."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._heads: dict[tuple[str, str | None], TemplateHead | FleetError] = {}
        self._abbreviations: dict[str, str] = get_user_config()["abbreviations"]

    def head(self, template: str, checkout: str | None) -> TemplateHead:
        """Return the newest commit of ``template`` at ``checkout``, cloning once."""
        key = (template, checkout)
        if key not in self._heads:
            try:
                self._heads[key] = self._clone(template, checkout)
            except FleetError as error:
                # Projects sharing an unreachable template fail alike, at once.
                self._heads[key] = error
        found = self._heads[key]
        if isinstance(found, FleetError):
            raise found
        return found

    def _clone(self, template: str, checkout: str | None) -> TemplateHead:
        """Clone ``template`` and check out the newest commit of ``checkout``."""
        source = expand_abbreviations(template, self._abbreviations)
        directory = self._root / f"template-{len(self._heads)}"
        try:
            git("clone", "--quiet", source, str(directory), cwd=self._root)
        except FleetError as error:
            raise FleetError(f"template {template} is unreachable: {error}") from error
        if checkout is not None:
            try:
                git("checkout", "--quiet", checkout, cwd=directory)
            except FleetError as error:
                message = f"template {template} has no branch or tag {checkout!r}"
                raise FleetError(message) from error
        return TemplateHead(directory, git("rev-parse", "HEAD", cwd=directory))


@contextlib.contextmanager
def template_cache() -> Iterator[TemplateCache]:
    """Yield a :class:`TemplateCache` whose clones are deleted afterwards."""
    with tempfile.TemporaryDirectory(prefix="ml-template-status-") as root:
        yield TemplateCache(Path(root))


def commits_behind(head: TemplateHead, commit: str) -> int | None:
    """Return the commits from ``commit`` to ``head``; ``None`` if not its ancestor."""
    try:
        git("merge-base", "--is-ancestor", commit, head.commit, cwd=head.directory)
    except FleetError:
        return None
    count = git("rev-list", "--count", f"{commit}..{head.commit}", cwd=head.directory)
    return int(count)


def answer_arguments(answers: dict[str, Any]) -> list[str]:
    """Return ``answers`` as cookiecutter's ``KEY=VALUE`` arguments, git left out."""
    return [f"{key}={value}" for key, value in {**answers, **NO_GIT}.items()]


def write_trial_config(root: Path) -> Path:
    """Write the cookiecutter configuration of a trial render below ``root``.

    Template defaults only, and no replay file in the user's home directory.
    JSON is YAML, and quotes any path safely.
    """
    config = {
        "default_context": {},
        "replay_dir": str(root / "replay"),
        "cookiecutters_dir": str(root / "repositories"),
    }
    path = root / "config.yaml"
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


def answers_problem(head: TemplateHead, answers: dict[str, Any]) -> str | None:
    """Render ``head`` with ``answers`` in a scratch directory; return why it fails.

    The render runs in its own interpreter, so the template's Jinja extension
    and hooks are those of ``head``, and their messages are captured.
    """
    with tempfile.TemporaryDirectory(prefix="ml-template-trial-") as scratch:
        root = Path(scratch)
        config = write_trial_config(root)
        command = [
            sys.executable, "-m", "cookiecutter", "--no-input",
            "--config-file", str(config), "--output-dir", str(root / "out"),
            str(head.directory), *answer_arguments(answers),
        ]  # fmt: skip
        try:
            completed = subprocess.run(  # noqa: S603 - arguments built here, no shell
                command,
                capture_output=True,
                text=True,
                check=False,
                timeout=TRIAL_TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            return f"rendering the template took more than {TRIAL_TIMEOUT} s"
    if completed.returncode == 0:
        return None
    return render_failure(completed.stdout + completed.stderr)


def render_failure(output: str) -> str:
    """Return why a trial render failed: a hook's ``Error:`` line, else the last."""
    errors = [line for line in output.splitlines() if line.startswith("Error: ")]
    reason = errors[-1].removeprefix("Error: ") if errors else last_line(output)
    return reason.removeprefix("ValueError: ")


def project_status(project: LinkedProject, templates: TemplateCache) -> ProjectStatus:
    """Compare ``project`` with the newest commit of its template."""
    local = project.local_template()
    source = project.template if local is None else str(local.absolute())
    head = templates.head(source, project.checkout)
    return ProjectStatus(
        project=project,
        head=head.commit,
        behind=commits_behind(head, project.commit),
        answers_problem=answers_problem(head, project.answers),
    )
