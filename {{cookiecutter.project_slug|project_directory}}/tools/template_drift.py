"""Tell whether this project has fallen behind the template it was made from.

``cruft create`` and ``cruft link`` record the template's source and commit in
``.cruft.json``; ``cruft check`` compares that commit with the template's
newest. This script runs it the way CI needs it (``make template-drift``,
docs/template.md): a project without ``.cruft.json``, or whose template
cannot be reached from here, passes with a notice saying why it was skipped;
a project behind its template fails, or only warns with ``--warn-only``.
Run it from the project's root. It needs git and, for the check itself,
cruft on the PATH; nothing else but the standard library.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

CRUFT_FILE = Path(".cruft.json")
# cookiecutter's BUILTIN_ABBREVIATIONS: what ``gh:org/name`` and the like stand for.
ABBREVIATIONS = {
    "gh": "https://github.com/{0}.git",
    "gl": "https://gitlab.com/{0}.git",
    "bb": "https://bitbucket.org/{0}",
}
# Seconds to wait for the template's server to answer, and for cruft to clone it.
REACH_TIMEOUT = 60
CHECK_TIMEOUT = 600
# What `cruft check` prints when the project's commit is not the template's newest.
CRUFT_BEHIND = "out of date"
ANNOTATION_TITLE = "Template drift"
SKIPPED = "Template drift check skipped"
DESCRIPTION = "Tell whether this project has fallen behind its template."
# How much a line matters: a plain line, a notice, a warning or an error.
Level = Literal["info", "notice", "warning", "error"]


class DriftCheckError(Exception):
    """The check itself could not run; the message is one line for the user."""


@dataclass(frozen=True)
class TemplateLink:
    """The template a project is linked to, as ``.cruft.json`` records it.

    Attributes
    ----------
    source : str
        The template's source as recorded: a git URL, a path or an abbreviation.
    checkout : str or None
        The branch or tag the project follows; ``None`` for the default branch.
    """

    source: str
    checkout: str | None

    @property
    def url(self) -> str:
        """The source with cookiecutter's abbreviation (``gh:``, ...) expanded."""
        return expand_abbreviation(self.source)


def expand_abbreviation(source: str) -> str:
    """Return ``source`` with a cookiecutter abbreviation expanded.

    Parameters
    ----------
    source : str
        A template source: a URL, a path, or ``gh:``, ``gl:`` or ``bb:``
        followed by ``owner/name``.

    Returns
    -------
    str
        The URL the abbreviation stands for, or ``source`` unchanged.

    Examples
    --------
    >>> expand_abbreviation("gh:acme/ml-template")
    'https://github.com/acme/ml-template.git'
    >>> expand_abbreviation("/srv/templates/ml")
    '/srv/templates/ml'
    """
    prefix, colon, rest = source.partition(":")
    if colon and prefix in ABBREVIATIONS:
        return ABBREVIATIONS[prefix].format(rest)
    return source


def hide_credentials(url: str) -> str:
    """Return ``url`` with any user name and password replaced by ``***``.

    Examples
    --------
    >>> hide_credentials("https://user:token@git.example.com/ml.git")
    'https://***@git.example.com/ml.git'
    """
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"***@{host}"))


def read_link(cruft_file: Path) -> TemplateLink | None:
    """Read the template link of ``.cruft.json``; ``None`` if there is no file.

    Raises
    ------
    DriftCheckError
        If the file is not a record that cruft wrote.
    """
    if not cruft_file.is_file():
        return None
    try:
        state = json.loads(cruft_file.read_text(encoding="utf-8"))
        return TemplateLink(
            source=str(state["template"]), checkout=state.get("checkout") or None
        )
    except (ValueError, KeyError, TypeError) as error:
        message = f"{cruft_file} is not a cruft record ({error})"
        raise DriftCheckError(message) from error


def git_environment(source: str) -> dict[str, str]:
    """Return the environment for git and cruft: never a prompt, abbreviations known.

    A template that needs credentials that are not there fails at once
    instead of waiting for input. cruft clones the recorded source as it is,
    and git does not know cookiecutter's abbreviations: a ``url.<base>.insteadOf``
    setting, passed in the environment, teaches git the recorded one.
    """
    environment = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    prefix, colon, _ = source.partition(":")
    if colon and prefix in ABBREVIATIONS:
        base = ABBREVIATIONS[prefix].partition("{0}")[0]
        index = int(environment.get("GIT_CONFIG_COUNT", "0"))
        environment["GIT_CONFIG_COUNT"] = str(index + 1)
        environment[f"GIT_CONFIG_KEY_{index}"] = f"url.{base}.insteadOf"
        environment[f"GIT_CONFIG_VALUE_{index}"] = f"{prefix}:"
    return environment


def executable(name: str, remedy: str) -> str:
    """Return the path of the program ``name`` on the PATH.

    Raises
    ------
    DriftCheckError
        If it is not there; its message ends with ``remedy``.
    """
    path = shutil.which(name)
    if path is None:
        raise DriftCheckError(f"{name} is not on the PATH: {remedy}")
    return path


def is_reachable(link: TemplateLink) -> bool:
    """Return whether git can read the template's repository from here."""
    git = executable("git", "install git")
    command = [git, "ls-remote", "--quiet", link.url, "HEAD"]
    try:
        completed = subprocess.run(  # noqa: S603 (fixed arguments, no shell)
            command,
            env=git_environment(link.source),
            capture_output=True,
            check=False,
            timeout=REACH_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        return False
    return completed.returncode == 0


def last_line(text: str) -> str:
    """Return the last line of ``text`` that has a letter or digit, stripped."""
    lines = [line.strip() for line in text.splitlines()]
    return next((line for line in reversed(lines) if any(map(str.isalnum, line))), "")


def cruft_check(link: TemplateLink) -> subprocess.CompletedProcess[str]:
    """Run ``cruft check`` on the project and return what it did.

    Raises
    ------
    DriftCheckError
        If cruft does not finish within ``CHECK_TIMEOUT`` seconds.
    """
    command = [executable("cruft", "`make template-drift` installs it"), "check"]
    if link.checkout:
        command += ["--checkout", link.checkout]
    # A failure then ends in one plain line instead of a framed traceback.
    environment = {**git_environment(link.source), "TYPER_STANDARD_TRACEBACK": "1"}
    try:
        return subprocess.run(  # noqa: S603 (fixed arguments, no shell)
            command,
            env=environment,
            capture_output=True,
            text=True,
            check=False,
            timeout=CHECK_TIMEOUT,
        )
    except subprocess.TimeoutExpired as error:
        message = f"cruft check gave no answer within {CHECK_TIMEOUT} s"
        raise DriftCheckError(message) from error


def announce(level: Level, message: str) -> None:
    """Print ``message`` at ``level``: warnings and errors to standard error."""
    stream = sys.stderr if level in {"warning", "error"} else sys.stdout
    print(format_line(level, message), file=stream)


def format_line(level: Level, message: str) -> str:
    """Return the line that says ``message`` at ``level``.

    On GitHub Actions, notices, warnings and errors are workflow commands, so
    that they show as annotations of the run; elsewhere warnings and errors
    start with their level.

    Examples
    --------
    >>> format_line("error", "the project is behind its template")
    'Error: the project is behind its template'
    """
    on_github = os.environ.get("GITHUB_ACTIONS") == "true"
    if level == "info" or (level == "notice" and not on_github):
        return message
    if not on_github:
        return f"{level.capitalize()}: {message}"
    escaped = message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    title = "" if level == "notice" else f" title={ANNOTATION_TITLE}"
    return f"::{level}{title}::{escaped}"


def check_drift(link: TemplateLink | None, *, warn_only: bool) -> int:
    """Check the project against its template; return the exit status.

    Parameters
    ----------
    link : TemplateLink or None
        The template the project is linked to; ``None`` if it is not linked.
    warn_only : bool
        Report a project behind its template as a warning and return 0.

    Returns
    -------
    int
        0 when the project is up to date or the check was skipped, 1 when it
        is behind its template (unless ``warn_only``) or cruft failed.
    """
    if link is None:
        reason = "not linked to a template (`cruft link TEMPLATE_URL`)"
        announce("notice", f"{SKIPPED}: {reason}")
        return 0
    shown = hide_credentials(link.url)
    if not is_reachable(link):
        reason = f"cannot reach the template {shown} from here (docs/template.md)"
        announce("notice", f"{SKIPPED}: {reason}")
        return 0
    completed = cruft_check(link)
    if completed.returncode == 0:
        announce("info", f"The project is up to date with its template {shown}.")
        return 0
    if CRUFT_BEHIND in completed.stdout:
        behind = (
            f"the project is behind its template {shown}:"
            " `cruft update` brings the changes"
        )
        announce("warning" if warn_only else "error", behind)
        return 0 if warn_only else 1
    failure = last_line(completed.stdout + completed.stderr)
    announce("error", f"cruft check failed: {failure.replace(link.source, shown)}")
    return 1


def parse_arguments(arguments: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command line (``sys.argv`` when ``arguments`` is ``None``)."""
    parser = argparse.ArgumentParser(description=DESCRIPTION)
    parser.add_argument(
        "--warn-only",
        action="store_true",
        help="report a project behind its template as a warning, and exit 0",
    )
    return parser.parse_args(arguments)


def main(arguments: Sequence[str] | None = None) -> int:
    """Run the check from the command line; return the exit status."""
    options = parse_arguments(arguments)
    try:
        return check_drift(read_link(CRUFT_FILE), warn_only=options.warn_only)
    except DriftCheckError as error:
        announce("error", str(error))
        return 1


if __name__ == "__main__":
    sys.exit(main())
