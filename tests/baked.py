"""A project rendered by pytest-cookies, as the template's tests use it.

``bake`` renders the template with some answers, checks that rendering
succeeded and returns a ``BakedProject``: its directory, its answers, and the
few questions the tests ask of it (which files it has, what they say, what a
command run in it prints). ``try_bake`` returns pytest-cookies' raw result,
for the tests of answers that must be refused.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from helpers import TEMPLATE_DIR

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

# A command run in a project that takes longer than this has hung.
COMMAND_TIMEOUT = 900


class BakeResult(Protocol):
    """What the tests read of pytest-cookies' ``Result`` (which has no types)."""

    exception: BaseException | None
    exit_code: int | str | None
    context: dict[str, Any] | None

    @property
    def project_path(self) -> Path | None:
        """The rendered project's directory, or ``None`` if rendering failed."""


class Cookies(Protocol):
    """pytest-cookies' ``cookies`` and ``cookies_session`` fixtures."""

    def bake(
        self,
        extra_context: dict[str, str] | None = None,
        template: str | None = None,
    ) -> BakeResult:
        """Render ``template`` with ``extra_context`` into a new directory."""


def try_bake(cookies: Cookies, **answers: str) -> BakeResult:
    """Render the template with ``answers``; return the result, failed or not.

    The template is passed explicitly, so the tests do not depend on the
    directory pytest was started from (pytest-cookies defaults to ``.``).
    """
    return cookies.bake(extra_context=answers, template=str(TEMPLATE_DIR))


def bake(cookies: Cookies, **answers: str) -> BakedProject:
    """Render the template with ``answers``; fail the test unless it rendered."""
    result = try_bake(cookies, **answers)
    assert result.exit_code == 0, result.exception
    assert result.exception is None
    assert result.project_path is not None
    assert result.context is not None
    return BakedProject(result.project_path, dict(result.context))


@dataclass(frozen=True)
class BakedProject:
    """A rendered project: its directory and every answer it was rendered with."""

    path: Path
    answers: dict[str, Any]

    @property
    def slug(self) -> str:
        """The distribution, repository and console script name."""
        return str(self.answers["project_slug"])

    @property
    def package(self) -> str:
        """The import name."""
        return str(self.answers["package_name"])

    def has_file(self, relative: str) -> bool:
        """Whether the project has a file at ``relative``."""
        return (self.path / relative).is_file()

    def read_text(self, relative: str) -> str:
        """Return the UTF-8 text of the file at ``relative``."""
        return (self.path / relative).read_text(encoding="utf-8")

    def file_contains(self, relative: str, text: str) -> bool:
        """Whether the file at ``relative`` contains ``text``."""
        return text in self.read_text(relative)

    def read_toml(self, relative: str) -> dict[str, Any]:
        """Return the TOML file at ``relative`` as loaded."""
        loaded: dict[str, Any] = tomllib.loads(self.read_text(relative))
        return loaded

    @property
    def pyproject(self) -> dict[str, Any]:
        """The project's ``pyproject.toml``, as loaded."""
        return self.read_toml("pyproject.toml")

    def files(self) -> set[str]:
        """Return the relative path of every file, without git's own."""
        return project_files(self.path)

    def text_files(self) -> dict[str, str]:
        """Return the text of every UTF-8 file, by relative path."""
        return text_files(self.path)

    def environment(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """Environment for commands in the project, plus ``extra`` variables."""
        return {**os.environ, **(extra or {})}

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


def project_files(project: Path) -> set[str]:
    """Return the files below ``project`` by relative path, without git's own."""
    return {
        relative.as_posix()
        for relative in (path.relative_to(project) for path in project.rglob("*"))
        if relative.parts[0] != ".git" and (project / relative).is_file()
    }


def text_files(project: Path) -> dict[str, str]:
    """Return the UTF-8 text of every file in ``project`` by relative path."""
    texts = {}
    for relative in sorted(project_files(project)):
        try:
            texts[relative] = (project / relative).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
    return texts
