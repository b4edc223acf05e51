"""The command group: optional commands loaded on use, and errors in one line."""

from __future__ import annotations

import logging
import signal
from collections.abc import Mapping
from importlib import import_module
from importlib.util import find_spec
from typing import Any

import click

from ..errors import ProjectError

logger = logging.getLogger(__name__)

INTERRUPTED_EXIT_STATUS = 128 + signal.SIGINT
# validate found broken rules, monitor raised alerts: the command worked, and a
# scheduler must still see that something needs attention. 1 stays for errors
# and 2 for usage errors (Click's).
FINDINGS_EXIT_STATUS = 3


class ProjectGroup(click.Group):
    """A command group that reports project errors in one line.

    A :class:`~{{ cookiecutter.package_name }}.errors.ProjectError` becomes
    ``Error: <message>`` and exit status 1; the chain of errors that caused it
    is logged at DEBUG level, so ``-v`` shows it. Optional commands are
    offered only if their module exists (a project generated without a
    feature has none), and each is imported only when it is listed or run.

    Parameters
    ----------
    *args : Any
        Passed to :class:`click.Group`.
    optional_commands : mapping of str to str, optional
        Command name -> name of the module of this package's ``cli`` that
        defines the command under the same name.
    **kwargs : Any
        Passed to :class:`click.Group`.
    """

    def __init__(
        self,
        *args: Any,  # noqa: ANN401 (Click's signature)
        optional_commands: Mapping[str, str] | None = None,
        **kwargs: Any,  # noqa: ANN401 (Click's signature)
    ) -> None:
        super().__init__(*args, **kwargs)
        self._optional_commands = dict(optional_commands or {})

    def _optional_module(self, name: str) -> str | None:
        """Return the module defining optional command ``name``, if it exists."""
        if name not in self._optional_commands:
            return None
        module = f"{__package__}.{self._optional_commands[name]}"
        return module if find_spec(module) else None

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Return the built-in commands and the available optional ones."""
        optional = [
            name for name in self._optional_commands if self._optional_module(name)
        ]
        return sorted([*super().list_commands(ctx), *optional])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Return the command called ``cmd_name``, importing an optional one."""
        module = self._optional_module(cmd_name)
        if module is None:
            return super().get_command(ctx, cmd_name)
        command: click.Command = getattr(import_module(module), cmd_name)
        return command

    def invoke(self, ctx: click.Context) -> Any:  # noqa: ANN401 (Click's signature)
        """Run the command; a ``ProjectError`` becomes ``Error: ...`` and exit 1.

        Ctrl-C becomes ``Interrupted`` (with what to do next, if the command
        said) and exit status 130, what a shell reports for Ctrl-C.
        """
        try:
            return super().invoke(ctx)
        except ProjectError as error:
            logger.debug("What led to the error below:", exc_info=error)
            raise click.ClickException(str(error)) from error
        except KeyboardInterrupt as interrupt:
            reason = f": {interrupt}" if str(interrupt) else ""
            click.echo(f"Interrupted{reason}", err=True)
            raise click.exceptions.Exit(INTERRUPTED_EXIT_STATUS) from interrupt
