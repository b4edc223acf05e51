"""Options that several commands share, defined once, and their checks of outputs."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import ConfigError
from ..files import check_output_path

CONFIG_ENVVAR = "{{ cookiecutter.package_name | upper }}_CONFIG"


def require_config_file(ctx: click.Context, param: click.Parameter, path: Path) -> Path:
    """Return ``path`` if it is a file; a mistyped one fails before any import.

    Raises
    ------
    ConfigError
        If there is no file at ``path``.
    """
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    return path


config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    metavar="FILE",
    default="config.yaml",
    show_default=True,
    envvar=CONFIG_ENVVAR,
    callback=require_config_file,
    help=f"Configuration file (env: {CONFIG_ENVVAR}).",
)
"""``--config FILE``: the configuration to load, checked when it is parsed."""

model_option = click.option(
    "--model",
    "model_uri",
    metavar="URI",
    help="Model URI or path [default: the registered model's champion].",
)
"""``--model URI``: the model to use instead of the champion."""

chunk_size_option = click.option(
    "--chunk-size",
    type=click.IntRange(min=1),
    default=100_000,
    show_default=True,
    help="Rows read and processed at a time; bounds memory use.",
)
"""``--chunk-size N``: how many rows of a file a command holds at once."""

format_option = click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text: one line per finding; json: one object with every finding.",
)
"""``--format text|json``: how a command that checks data reports its findings."""


def refuse_overwriting_inputs(output_path: Path, *inputs: Path) -> None:
    """Stop before anything is read if ``output_path`` would replace an input.

    The inputs are ``inputs`` and the logging configuration given to the group.

    Raises
    ------
    DataError
        If ``output_path`` is a directory, lies in a missing directory, or is
        one of the inputs under any name.
    """
    read = list(inputs)
    log_config = click.get_current_context().find_root().params.get("log_config")
    if log_config is not None:
        read.append(log_config)
    check_output_path(output_path, read)


def refuse_replacing_inputs(output_path: Path, *inputs: Path) -> None:
    """Stop before any work if the report ``output_path`` would replace an input.

    As :func:`refuse_overwriting_inputs`, except that a missing directory of
    ``output_path`` is no error: the report's writer creates it.

    Raises
    ------
    DataError
        If ``output_path`` is a directory, or one of the inputs under any name.
    """
    if output_path.parent.exists():
        refuse_overwriting_inputs(output_path, *inputs)
