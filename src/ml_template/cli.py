"""The ``ml-template`` command: render the template, report bad input in one line.

Cookiecutter's own command line logs a traceback when a hook rejects an
answer. This command calls cookiecutter's Python API instead, keeps its logger
quiet and ends every failure with a single ``Error: ...`` line on stderr and
exit status 1. Malformed ``KEY=VALUE`` arguments are usage errors (status 2).
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import click
from cookiecutter.exceptions import (
    CookiecutterException,
    FailedHookException,
    UndefinedVariableInTemplate,
)
from cookiecutter.main import cookiecutter

from ml_template import TEMPLATE_DIR

# Cookiecutter's message when a hook ran and exited non-zero. The hook has
# already printed its own one-line reason, so nothing is added to it.
HOOK_EXIT_PREFIX = "Hook script failed (exit status:"
# Errors that bad input can cause: cookiecutter's own, an invalid choice in
# the KEY=VALUE answers (ValueError) and an unusable output directory (OSError).
USER_ERRORS = (CookiecutterException, ValueError, OSError)


def template_options() -> list[str]:
    """Return the names of the answers the template asks for, in order."""
    path = TEMPLATE_DIR / "cookiecutter.json"
    with path.open(encoding="utf-8") as file:
        options = json.load(file)
    return [name for name in options if not name.startswith("_")]


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
    known = template_options()
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


def render(output_dir: Path, answers: dict[str, str], *, no_input: bool) -> Path:
    """Render the template into ``output_dir``; return the project directory."""
    with quiet_cookiecutter_logger():
        project = cookiecutter(
            str(TEMPLATE_DIR),
            no_input=no_input,
            extra_context=answers,
            output_dir=str(output_dir),
        )
    return Path(project)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ml-template")
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
@click.argument("answers", metavar="[KEY=VALUE]...", nargs=-1, callback=parse_answers)
def main(output_dir: Path, no_input: bool, answers: dict[str, str]) -> None:
    """Create a production machine-learning package from the template.

    KEY=VALUE arguments answer questions in advance, for example
    project_name="Churn Model" task=regression. Every answer is checked before
    anything is written; a bad one stops with one line naming the field.
    """
    try:
        render(output_dir, answers, no_input=no_input)
    except USER_ERRORS as error:
        message = error_message(error)
        if message is not None:
            click.echo(f"Error: {message}", err=True)
        sys.exit(1)
