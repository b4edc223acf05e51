"""Options that several commands share, defined once."""

from __future__ import annotations

from pathlib import Path

import click

CONFIG_ENVVAR = "{{ cookiecutter.package_name | upper }}_CONFIG"

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default="config.yaml",
    show_default=True,
    envvar=CONFIG_ENVVAR,
    help=f"Configuration file (env: {CONFIG_ENVVAR}).",
)
"""``--config FILE``: the configuration to load."""

model_option = click.option(
    "--model",
    "model_uri",
    metavar="URI",
    help="Model URI or path [default: the registered model's champion].",
)
"""``--model URI``: the model to use instead of the champion."""
