"""The ``ml-template`` command: render the template, and keep a fleet of projects.

``ml-template [OPTIONS] [KEY=VALUE]...`` renders a project (the ``create``
command, which runs when no other is named); ``ml-template status PATH...``
reports which projects fell behind the template, and ``ml-template update
PATH`` brings one up to date with cruft.

Cookiecutter's own command line logs a traceback when a hook rejects an
answer. This command calls cookiecutter's Python API instead, keeps its logger
quiet and ends every failure with a single ``Error: ...`` line on stderr and
exit status 1. Malformed arguments are usage errors (status 2).
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import click
from cookiecutter.exceptions import (
    CookiecutterException,
    FailedHookException,
    UndefinedVariableInTemplate,
)
from cookiecutter.main import cookiecutter

from ml_template import TEMPLATE_DIR
from ml_template.defaults import check_config_file
from ml_template.projects import FleetError, read_linked_project
from ml_template.status import ProjectStatus, project_status, template_cache
from ml_template.update import update_project

# Cookiecutter's message when a hook ran and exited non-zero. The hook has
# already printed its own one-line reason, so nothing is added to it.
HOOK_EXIT_PREFIX = "Hook script failed (exit status:"
# Errors that bad input can cause: cookiecutter's own, an invalid choice in
# the KEY=VALUE answers (ValueError), an unusable output directory (OSError)
# and an unusable organization defaults file (FleetError).
USER_ERRORS = (CookiecutterException, ValueError, OSError, FleetError)
# The command that runs when the first argument names none, and the group's
# own options, which never stand for it.
DEFAULT_COMMAND = "create"
GROUP_OPTIONS = frozenset({"-h", "--help", "--version"})
# How many characters of a commit id the reports show.
SHORT_COMMIT = 12


def template_options() -> dict[str, Any]:
    """Return the questions of ``cookiecutter.json`` with their defaults, in order.

    A list of values offers choices; private ``_`` entries are left out.
    """
    path = TEMPLATE_DIR / "cookiecutter.json"
    with path.open(encoding="utf-8") as file:
        options: dict[str, Any] = json.load(file)
    return {name: value for name, value in options.items() if not name.startswith("_")}


def parse_answer(item: str, known: list[str]) -> tuple[str, str]:
    """Split one ``KEY=VALUE`` argument; raise ``click.BadParameter`` if bad."""
    key, separator, value = item.partition("=")
    if not separator or not key:
        raise click.BadParameter(f"{item!r} is not of the form KEY=VALUE")
    if key not in known:
        raise click.BadParameter(
            f"{key!r} is not a template option: use one of {', '.join(known)}"
        )
    return key, value


def parse_answers(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, str]:
    """Click callback: turn the ``KEY=VALUE`` arguments into answers."""
    known = list(template_options())
    return dict(parse_answer(item, known) for item in values)


@contextlib.contextmanager
def quiet_cookiecutter_logger() -> Iterator[None]:
    """Mute cookiecutter's logger, which reports hook failures with a traceback.

    Unconfigured, Python's last-resort handler would print those records to
    stderr; raising the level keeps them out while leaving the caller's
    logging setup untouched afterwards.
    """
    logger = logging.getLogger("cookiecutter")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def error_message(error: Exception) -> str | None:
    """Return the one line to print for ``error``; ``None`` if a hook said it."""
    if isinstance(error, FailedHookException) and str(error).startswith(
        HOOK_EXIT_PREFIX
    ):
        return None
    if isinstance(error, UndefinedVariableInTemplate):
        # Its str() appends the whole context; the cause is enough.
        text = f"{error.message}: {error.error.message}"
    else:
        text = str(error)
    # Cookiecutter prefixes some messages itself; never print "Error: Error:".
    return " ".join(text.split()).removeprefix("Error: ")


def render(
    output_dir: Path,
    answers: dict[str, str],
    *,
    no_input: bool,
    config_file: Path | None = None,
) -> Path:
    """Render the template into ``output_dir``; return the project directory.

    ``config_file`` is a cookiecutter configuration whose ``default_context``
    holds the organization's defaults; without it, cookiecutter reads the
    user's own (``COOKIECUTTER_CONFIG`` or ``~/.cookiecutterrc``).
    """
    if config_file is not None:
        check_config_file(config_file, template_options())
    with quiet_cookiecutter_logger():
        project = cookiecutter(
            str(TEMPLATE_DIR),
            no_input=no_input,
            extra_context=answers,
            output_dir=str(output_dir),
            config_file=None if config_file is None else str(config_file),
        )
    return Path(project)


def fail(error: Exception) -> NoReturn:
    """Print ``error`` as one ``Error:`` line (unless a hook did) and exit 1."""
    message = error_message(error)
    if message is not None:
        click.echo(f"Error: {message}", err=True)
    sys.exit(1)


def short(commit: str) -> str:
    """Return the abbreviated form of ``commit`` that the reports show."""
    return commit[:SHORT_COMMIT]


def status_line(status: ProjectStatus) -> str:
    """Return the report of one linked project: its place in the template's history."""
    project = status.project
    if status.behind is None:
        place = (
            f"rendered from {short(project.commit)}, which is not in the history"
            f" of {project.template}"
        )
    elif status.behind:
        plural = "s" if status.behind > 1 else ""
        place = (
            f"behind by {status.behind} commit{plural} ({short(project.commit)}"
            f" -> {short(status.head)}): run `ml-template update {project.path}`"
        )
    else:
        place = f"up to date ({short(status.head)})"
    if status.answers_problem is not None:
        place += f"; its answers fail the template's checks: {status.answers_problem}"
    return f"{project.path}: {place}"


class DefaultCommandGroup(click.Group):
    """A group that runs ``create`` when the first argument names no command.

    Rendering keeps its short form, ``ml-template [OPTIONS] [KEY=VALUE]...``,
    beside the fleet commands.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Put ``create`` in front of arguments that name no command."""
        if not args or (args[0] not in self.commands and args[0] not in GROUP_OPTIONS):
            args = [DEFAULT_COMMAND, *args]
        return super().parse_args(ctx, args)

    def collect_usage_pieces(self, ctx: click.Context) -> list[str]:
        """Show that the command name is optional and rendering the default."""
        return ["[COMMAND]", "[OPTIONS]", "[ARGS]..."]


@click.group(
    cls=DefaultCommandGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(package_name="ml-template")
def main() -> None:
    """Create production machine-learning packages, and keep them up to date.

    Without a command name, the arguments go to create, so
    `ml-template --no-input task=regression` renders a project.
    """


@main.command()
@click.option(
    "-o",
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Directory to create the project in.",
)
@click.option(
    "--no-input",
    is_flag=True,
    help="Do not prompt: use the defaults and the KEY=VALUE answers.",
)
@click.option(
    "--config-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Cookiecutter configuration whose default_context holds the"
    " organization's defaults for every answer.",
)
@click.argument("answers", metavar="[KEY=VALUE]...", nargs=-1, callback=parse_answers)
def create(
    output_dir: Path, no_input: bool, config_file: Path | None, answers: dict[str, str]
) -> None:
    """Create a production machine-learning package from the template.

    KEY=VALUE arguments answer questions in advance, for example
    project_name="Churn Model" task=regression; they win over the defaults of
    --config-file. Every answer is checked before anything is written; a bad
    one stops with one line naming the field.
    """
    try:
        render(output_dir, answers, no_input=no_input, config_file=config_file)
    except USER_ERRORS as error:
        fail(error)


@main.command()
@click.argument(
    "projects",
    metavar="PATH...",
    nargs=-1,
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
)
def status(projects: tuple[Path, ...]) -> None:
    """Report which projects fell behind the template.

    A project's .cruft.json gives the template commit it was rendered or last
    updated from; the template is cloned to count the commits since, and
    rendered with the recorded answers to check that they still pass. Exits 0
    when every project is up to date, 1 otherwise.
    """
    current = 0
    with template_cache() as templates:
        for path in projects:
            try:
                found = project_status(read_linked_project(path), templates)
            except FleetError as error:
                click.echo(f"{path}: {error}")
                continue
            click.echo(status_line(found))
            current += found.up_to_date
    if len(projects) > 1:
        click.echo(f"{current} of {len(projects)} projects up to date")
    sys.exit(0 if current == len(projects) else 1)


@main.command()
@click.argument(
    "project",
    metavar="PATH",
    default=Path("."),
    type=click.Path(file_okay=False, path_type=Path),
)
def update(project: Path) -> None:
    """Update a project to the template's newest commit (cruft update).

    Applies what changed in the template since PATH was rendered or last
    updated, following the branch or tag it recorded. Refuses a work tree
    with uncommitted changes. Lists the files left with conflicts to resolve
    by hand, and then exits 1.
    """
    try:
        linked = read_linked_project(project)
        conflicts = update_project(linked)
        after = read_linked_project(project).commit
    except FleetError as error:
        fail(FleetError(f"{project}: {error}"))
    if conflicts:
        click.echo("Resolve the conflicts in these files by hand, then commit:")
        for path in conflicts:
            click.echo(f"  {path}")
        sys.exit(1)
    if after == linked.commit:
        click.echo(f"{project}: already up to date ({short(after)})")
    else:
        click.echo(
            f"{project}: updated from {short(linked.commit)} to {short(after)};"
            " review the changes with `git diff`, then commit them"
        )
