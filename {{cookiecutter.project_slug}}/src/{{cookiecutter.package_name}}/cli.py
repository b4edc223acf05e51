"""Command-line interface: thin Click commands over the library functions.

Heavy libraries (pandas, scikit-learn, MLflow) are imported inside the
commands, so ``--help`` and ``--version`` answer at once.
"""

from __future__ import annotations

import os
import sys
from importlib import import_module
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .errors import ProjectError

if TYPE_CHECKING:
    from .train import TrainingResult

CONFIG_ENVVAR = "{{ cookiecutter.package_name | upper }}_CONFIG"
LOG_FORMAT_ENVVAR = "{{ cookiecutter.package_name | upper }}_LOG_FORMAT"
# Commands of optional features, by name, and the module of this package that
# defines each; the project has the module only if it was generated with it.
OPTIONAL_COMMANDS = {"serve": "serving"}


def _optional_module(name: str) -> str | None:
    """Return the module defining optional command ``name``, if the project has it."""
    if name not in OPTIONAL_COMMANDS:
        return None
    module = f"{__package__}.{OPTIONAL_COMMANDS[name]}"
    return module if find_spec(module) else None


class ProjectGroup(click.Group):
    """A command group that turns project errors into one-line messages.

    It also offers the optional commands whose modules exist, importing each
    only when it is listed or run.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Return the built-in commands and the available optional ones."""
        optional = [name for name in OPTIONAL_COMMANDS if _optional_module(name)]
        return sorted([*super().list_commands(ctx), *optional])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Return the command called ``cmd_name``, importing an optional one."""
        module = _optional_module(cmd_name)
        if module is None:
            return super().get_command(ctx, cmd_name)
        command: click.Command = getattr(import_module(module), cmd_name)
        return command

    def invoke(self, ctx: click.Context) -> Any:  # noqa: ANN401 (Click's signature)
        """Run the command; a ``ProjectError`` becomes ``Error: ...`` and exit 1."""
        try:
            return super().invoke(ctx)
        except ProjectError as error:
            raise click.ClickException(str(error)) from error


config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default="config.yaml",
    show_default=True,
    envvar=CONFIG_ENVVAR,
    help=f"Configuration file (env: {CONFIG_ENVVAR}).",
)
model_option = click.option(
    "--model",
    "model_uri",
    metavar="URI",
    help="Model URI or path [default: the registered model's champion].",
)


@click.group(cls=ProjectGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="{{ cookiecutter.project_slug }}")
@click.option("-v", "--verbose", count=True, help="More log output (repeatable).")
@click.option("-q", "--quiet", count=True, help="Less log output (repeatable).")
@click.option(
    "--log-config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A logging dictConfig YAML file replacing the packaged one.",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    envvar=LOG_FORMAT_ENVVAR,
    help=f"Log line format; json: one object per line (env: {LOG_FORMAT_ENVVAR}).",
)
def cli(verbose: int, quiet: int, log_config: Path | None, log_format: str) -> None:
    """Train, evaluate and apply the {{ cookiecutter.project_slug }} model."""
    from .logs import configure_logging

    # MLflow installs its own log handler on import unless told not to; its
    # records then follow this project's configuration like any other.
    os.environ.setdefault("MLFLOW_CONFIGURE_LOGGING", "false")
    configure_logging(log_config, verbose - quiet, json_lines=log_format == "json")


@cli.command()
@config_option
def train(config_path: Path) -> None:
    """Train on the configured data, log to MLflow and gate the champion alias."""
    from .config import load_config
    from .train import train as train_model

    result = train_model(load_config(config_path))
    metrics = ", ".join(f"{name}={value:.4f}" for name, value in result.metrics.items())
    click.echo(f"Run {result.run_id}: {metrics}")
    click.echo(f"Registered version {result.model_version}; {_promotion_text(result)}")


def _promotion_text(result: TrainingResult) -> str:
    if result.champion_score is None:
        return "no champion yet, so it is the champion now."
    verdict = "promoted to champion" if result.promoted else "champion kept"
    scores = f"candidate {result.score:.4f} vs champion {result.champion_score:.4f}"
    return f"{verdict} ({scores})."


@cli.command()
@config_option
@model_option
@click.option(
    "--data",
    "data_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Labelled CSV/Parquet to score [default: the configured test split].",
)
def evaluate(config_path: Path, model_uri: str | None, data_path: Path | None) -> None:
    """Print the metrics of a model on labelled data."""
    from .config import load_config
    from .evaluate import evaluate as evaluate_model

    metrics = evaluate_model(load_config(config_path), model_uri, data_path)
    for name, value in metrics.items():
        click.echo(f"{name}: {value:.4f}")


@cli.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option(
    "--output",
    "-o",
    "output_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write predictions (.csv or .parquet).",
)
@config_option
@model_option
@click.option(
    "--chunk-size",
    type=click.IntRange(min=1),
    default=100_000,
    show_default=True,
    help="Rows read and predicted at a time; bounds memory use.",
)
@click.option(
    "--keep",
    "keep_columns",
    multiple=True,
    metavar="COLUMN",
    help="Input column copied to the output, e.g. an ID (repeatable).",
)
def predict(
    input_path: Path,
    output_path: Path,
    config_path: Path,
    model_uri: str | None,
    chunk_size: int,
    keep_columns: tuple[str, ...],
) -> None:
    """Predict every row of INPUT (CSV or Parquet) in chunks, with a progress bar."""
    from .config import load_config
    from .data import table_format
    from .predict import count_rows, load_configured_model, predict_file

    table_format(output_path)  # a bad output name fails before the slow model load
    model = load_configured_model(load_config(config_path), model_uri)
    total = count_rows(input_path) if input_path.is_file() else 0
    with click.progressbar(
        length=total,
        label="Predicting",
        file=sys.stderr,
        hidden=not sys.stderr.isatty(),
    ) as bar:
        rows = predict_file(
            model,
            input_path,
            output_path,
            chunk_size=chunk_size,
            keep_columns=keep_columns,
            on_chunk=bar.update,
        )
    click.echo(f"Wrote {rows} predictions to {output_path}")


def main() -> None:
    """Run the CLI; the console script's entry point."""
    cli(prog_name="{{ cookiecutter.project_slug }}")
