"""The commands: each parses its arguments and calls one library function.

Logging is configured here, by the group, before any command runs; the
library itself only ever calls ``logging.getLogger(__name__)``.
"""

from __future__ import annotations

import atexit
import gc
import os
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..errors import TrackingError
from .check_data import check_data
from .explain import explain
from .group import ProjectGroup
from .options import (
    chunk_size_option,
    config_option,
    format_option,
    model_option,
    refuse_overwriting_inputs,
    refuse_replacing_inputs,
)
from .tune import tune

if TYPE_CHECKING:
    from mlflow.pyfunc import PyFuncModel

    from ..config import Settings
    from ..tracking.registry import VersionSummary
    from ..workflows.predict import ContractPolicy
    from ..workflows.train import TrainingResult

LOG_FORMAT_ENVVAR = "{{ cookiecutter.package_name | upper }}_LOG_FORMAT"
# Commands of optional features, by name, and the module of this package's
# ``cli`` that defines each; the project has the module only if it was
# generated with the feature.
OPTIONAL_COMMANDS = {"serve": "serve"}


@click.group(
    cls=ProjectGroup,
    optional_commands=OPTIONAL_COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
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
    from ..logs import configure_logging

    # MLflow installs its own log handler on import unless told not to; its
    # records then follow this project's configuration like any other.
    os.environ.setdefault("MLFLOW_CONFIGURE_LOGGING", "false")
    # Progress bars of MLflow's artifact copies (with tqdm, which Optuna
    # brings) would interleave with the log lines, one per file logged.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    # With the spark extra, pandera imports PySpark, which warns on every
    # command that it does not fully support pandas 3.
    warnings.filterwarnings(
        "ignore", "PySpark does not yet fully support pandas", FutureWarning
    )
    configure_logging(log_config, verbose - quiet, json_lines=log_format == "json")


@cli.command()
@config_option
@click.option(
    "--offline",
    is_flag=True,
    help="Train and save the run without contacting the tracking server;"
    " log it later with upload.",
)
@click.option(
    "--report-dir",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Also write the held-out metrics, version and promotion (metrics.json)"
    " and the held-out predictions (holdout.csv) into DIR, e.g. for DVC.",
)
def train(config_path: Path, offline: bool, report_dir: Path | None) -> None:
    """Train on the configured data, log to MLflow and gate the champion alias."""
    if offline and report_dir is not None:
        raise click.UsageError("--report-dir needs a logged run: drop --offline")
    from ..config import load_config

    settings = load_config(config_path)
    if report_dir is not None:
        from ..workflows.reports import training_report_paths

        for path in training_report_paths(report_dir):
            refuse_replacing_inputs(path, config_path, settings.data.path)
    from ..workflows.train import train as train_model
    from ..workflows.train import train_offline

    if offline:
        saved = train_offline(settings)
        click.echo(
            f"Saved the run in {saved.path} without logging it; log it with:"
            f" {{ cookiecutter.project_slug }} upload {saved.path}"
        )
        return
    result = train_model(settings)
    _report(result)
    if report_dir is not None:
        from ..workflows.reports import write_training_report

        for path in write_training_report(report_dir, result):
            click.echo(f"Wrote {path}")


@cli.command()
@click.argument(
    "run_path",
    metavar="RUN_DIR",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
)
@config_option
def upload(run_path: Path, config_path: Path) -> None:
    """Log a run that train saved in RUN_DIR, register it and gate the champion.

    For runs whose logging failed, e.g. because the tracking server was down;
    they are kept under tracking.saved_runs.
    """
    from ..config import load_config

    settings = load_config(config_path)
    from ..workflows.train import upload as upload_run

    _report(upload_run(settings, run_path))


@cli.command("tracking-server")
@click.option("--port", type=click.IntRange(1, 65535), default=5000, show_default=True)
@click.option(
    "--backend-store-uri",
    default="sqlite:///mlflow-server.db",
    show_default=True,
    help="Where runs and the registry live (SQLite or postgresql:// URI).",
)
@click.option(
    "--artifacts-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default="mlartifacts",
    show_default=True,
    help="Local directory for models and other artifacts.",
)
def tracking_server(port: int, backend_store_uri: str, artifacts_dir: Path) -> None:
    """Run a local MLflow tracking server on 127.0.0.1 until Ctrl-C."""
    import signal

    from ..tracking.local_server import tracking_server as run_server

    # A service manager stops with SIGTERM: stop the server as on Ctrl-C.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        with run_server(port, backend_store_uri, artifacts_dir) as server:
            click.echo(f"MLflow tracking server at {server.url}; stop it with Ctrl-C")
            click.echo(f"Use it with: export MLFLOW_TRACKING_URI={server.url}")
            status = server.process.wait()
        raise TrackingError(f"the MLflow server exited with status {status}")
    except KeyboardInterrupt:
        click.echo("Stopped the MLflow tracking server")


def _report(result: TrainingResult) -> None:
    metrics = ", ".join(f"{name}={value:.4f}" for name, value in result.metrics.items())
    click.echo(f"Run {result.run_id}: {metrics}")
    click.echo(f"Registered version {result.model_version}; {_promotion_text(result)}")
    for failure in result.promotion.failures:
        click.echo(f"Gate failed: {failure}")


def _promotion_text(result: TrainingResult) -> str:
    promotion = result.promotion
    if promotion.new_lineage is not None:
        return (
            f"a new lineage ({promotion.new_lineage}), not compared with champion"
            f" version {promotion.champion_version}, which stays the champion; to"
            " make it the champion run:"
            f" {{ cookiecutter.project_slug }} promote {result.model_version}"
        )
    if promotion.champion_score is None:
        if not result.promoted:
            return "no champion yet; it fails the quality gate, so it is not one."
        return "no champion yet, so it is the champion now."
    verdict = "promoted to champion" if result.promoted else "champion kept"
    scores = f"candidate {result.score:.4f} vs champion {promotion.champion_score:.4f}"
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
@click.option(
    "--output",
    "-o",
    "output_path",
    type=click.Path(path_type=Path),
    metavar="FILE",
    help="Also write the metrics to FILE as JSON, e.g. a DVC metrics file.",
)
def evaluate(
    config_path: Path,
    model_uri: str | None,
    data_path: Path | None,
    output_path: Path | None,
) -> None:
    """Print the metrics of a model on labelled data."""
    from ..config import load_config

    settings = load_config(config_path)
    if output_path is not None:
        scored = data_path or settings.data.path
        refuse_replacing_inputs(output_path, config_path, scored)
    from ..workflows.evaluate import evaluate as evaluate_model

    metrics = evaluate_model(settings, model_uri, data_path)
    for name, value in metrics.items():
        click.echo(f"{name}: {value:.4f}")
    if output_path is not None:
        from ..workflows.reports import write_json

        write_json(output_path, metrics)
        click.echo(f"Wrote {output_path}")


def _spark_settings(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, str]:
    """Return the ``--spark-conf KEY=VALUE`` options as a mapping."""
    settings = {}
    for value in values:
        key, separator, setting = value.partition("=")
        if not separator or not key.strip():
            raise click.BadParameter(f"{value!r} is not KEY=VALUE", ctx, param)
        settings[key.strip()] = setting
    return settings


@cli.command()
# Text, not paths: for --engine spark they may be URIs (s3://...), whose "//"
# a path would collapse.
@click.argument("input_path", metavar="INPUT", type=click.Path())
@click.option(
    "--output",
    "-o",
    "output_path",
    required=True,
    type=click.Path(),
    metavar="FILE",
    help="Where to write predictions (.csv or .parquet); never INPUT itself.",
)
@config_option
@model_option
@chunk_size_option
@click.option(
    "--keep",
    "keep_columns",
    multiple=True,
    metavar="COLUMN",
    help="Input column copied to the output, e.g. an ID (repeatable).",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="Slices of a chunk scored at once with --engine pandas, one thread each"
    "  [default: one per CPU].",
)
@click.option(
    "--engine",
    type=click.Choice(["pandas", "spark"]),
    default="pandas",
    show_default=True,
    help="pandas: here, in chunks; spark: on Spark, the output a directory"
    " (needs the spark extra).",
)
@click.option(
    "--master",
    metavar="URL",
    help="Spark master of --engine spark, e.g. spark://host:7077 [default: local[*]].",
)
@click.option(
    "--spark-conf",
    "spark_conf",
    multiple=True,
    metavar="KEY=VALUE",
    callback=_spark_settings,
    help="Spark setting of --engine spark (repeatable).",
)
def predict(
    input_path: str,
    output_path: str,
    config_path: Path,
    model_uri: str | None,
    chunk_size: int,
    keep_columns: tuple[str, ...],
    threads: int | None,
    engine: str,
    master: str | None,
    spark_conf: dict[str, str],
) -> None:
    """Predict every row of INPUT (CSV or Parquet) in chunks, with a progress bar.

    With --engine spark, INPUT may also be a directory of files, or a table
    on any file system Spark reads; the output is a directory of part files.
    """
    if engine == "spark":
        _predict_with_spark(
            input_path,
            output_path,
            config_path,
            model_uri,
            keep_columns,
            master,
            spark_conf,
        )
        return
    if master is not None or spark_conf:
        raise click.UsageError("--master and --spark-conf need --engine spark")
    _predict_with_pandas(
        Path(input_path),
        Path(output_path),
        config_path,
        model_uri,
        chunk_size,
        keep_columns,
        threads,
    )


def _predict_with_pandas(
    input_path: Path,
    output_path: Path,
    config_path: Path,
    model_uri: str | None,
    chunk_size: int,
    keep_columns: tuple[str, ...],
    threads: int | None,
) -> None:
    refuse_overwriting_inputs(output_path, input_path, config_path)
    # Importing the libraries and loading the model make some 400,000 objects
    # that live as long as the command. Full collections walking them took
    # about 0.6 s while they were made and as much again at exit: none runs
    # until the model is loaded, and then they leave the collector's sight.
    gc.disable()
    try:
        model, policy, settings = _load_for_prediction(
            output_path, config_path, model_uri, keep_columns
        )
    finally:
        gc.freeze()
        gc.enable()
    from ..data import count_rows
    from ..workflows.predict import DEFAULT_THREADS, predict_file

    total = count_rows(input_path) if input_path.is_file() else 0
    with click.progressbar(
        length=total,
        label="Predicting",
        file=sys.stderr,
        hidden=not sys.stderr.isatty(),
    ) as bar:
        predicted = predict_file(
            model,
            input_path,
            output_path,
            chunk_size=chunk_size,
            keep_columns=keep_columns,
            unwritten=settings.data.unwritten_columns,
            policy=policy,
            on_chunk=bar.update,
            threads=threads or DEFAULT_THREADS,
        )
    click.echo(f"Wrote {predicted.rows} predictions to {output_path}")
    check = predicted.contract_check
    if check is not None and not check.holds:
        click.echo(
            f"{check.broken_rows} of them break the data contract (see the"
            " warnings above); list every break with:"
            f" {{ cookiecutter.project_slug }} validate {input_path}"
        )


def _load_for_prediction(
    output_path: Path,
    config_path: Path,
    model_uri: str | None,
    keep_columns: tuple[str, ...],
) -> tuple[PyFuncModel, ContractPolicy | None, Settings]:
    """Return the model ``predict`` scores with, its contract policy and settings."""
    from ..config import load_config
    from ..data import table_format
    from ..tracking.artifacts import download_model, load_model
    from ..tracking.connection import connect
    from ..tracking.registry import champion_uri
    from ..workflows.predict import contract_policy, refuse_unwritten

    settings = load_config(config_path)
    # A bad output name or kept column fails before the slow model load.
    table_format(output_path)
    refuse_unwritten(keep_columns, settings.data.unwritten_columns)
    connect(settings.tracking)
    uri = model_uri or champion_uri(settings.tracking)
    # One copy serves the model and its contract: the registry is asked once.
    model_dir = download_model(uri)
    model = load_model(uri, model_dir)
    return model, contract_policy(settings, model_uri, model_dir), settings


def _predict_with_spark(
    input_path: str,
    output_path: str,
    config_path: Path,
    model_uri: str | None,
    keep_columns: tuple[str, ...],
    master: str | None,
    spark_conf: dict[str, str],
) -> None:
    from ..workflows.spark import local_path

    output_file = local_path(output_path)
    # An existing directory can only be an earlier Spark output, which no
    # input file can be; the workflow checks it against an input directory.
    if output_file is not None and not output_file.is_dir():
        local_input = local_path(input_path)
        inputs = [config_path] if local_input is None else [local_input, config_path]
        refuse_overwriting_inputs(output_file, *inputs)
    from ..config import load_config

    settings = load_config(config_path)
    from ..workflows.spark import DEFAULT_MASTER, predict_with_spark

    rows = predict_with_spark(
        settings,
        model_uri,
        input_path,
        output_path,
        keep_columns=keep_columns,
        master=master or DEFAULT_MASTER,
        conf=spark_conf,
    )
    click.echo(f"Wrote {rows} predictions to {output_path}")


@cli.command()
@click.argument("input_path", metavar="FILE", type=click.Path(path_type=Path))
@config_option
@model_option
@format_option
@chunk_size_option
def validate(
    input_path: Path,
    config_path: Path,
    model_uri: str | None,
    output_format: str,
    chunk_size: int,
) -> None:
    """Check FILE (CSV or Parquet) against the data contract of a model.

    Exits with status 0 when every row keeps the contract learned from the
    training rows, and with status 3 when a rule is broken.
    """
    import json

    from ..config import load_config

    settings = load_config(config_path)
    from ..workflows.validate import validate as validate_table
    from .group import FINDINGS_EXIT_STATUS

    validation = validate_table(settings, input_path, model_uri, chunk_size)
    if output_format == "json":
        click.echo(json.dumps(validation.as_dict(), default=str))
    else:
        for found in validation.check.breaks:
            click.echo(found.describe())
        click.echo(validation.verdict())
    if not validation.check.holds:
        raise click.exceptions.Exit(FINDINGS_EXIT_STATUS)


@cli.command()
@click.argument("version")
@config_option
def promote(version: str, config_path: Path) -> None:
    """Give VERSION of the registered model the champion alias.

    First prints how often VERSION agreed with the champion while serve
    --challenger shadow-scored it (monitoring.shadow_log.directory).
    """
    from ..config import load_config

    settings = load_config(config_path)
    config = settings.tracking
    from ..monitoring.shadow_log import read_agreement
    from ..tracking.registry import parse_version
    from ..tracking.registry import promote as promote_version

    version = parse_version(version)
    shadow_directory = settings.monitoring.shadow_log.directory
    agreement = read_agreement(shadow_directory, challenger_version=version)
    if agreement is None:
        click.echo(f"No shadow scoring of version {version} in {shadow_directory}.")
    else:
        click.echo(agreement.describe(version))
    previous, promoted = promote_version(config, version)
    if previous == promoted:
        click.echo(f"Version {promoted} already holds @{config.champion_alias}.")
    else:
        was = f" (was version {previous})" if previous else ""
        click.echo(f"Moved @{config.champion_alias} to version {promoted}{was}.")


@cli.command()
@config_option
def rollback(config_path: Path) -> None:
    """Give the champion alias back to the version that held it before."""
    from ..config import load_config

    config = load_config(config_path).tracking
    from ..tracking.registry import rollback as roll_back

    current, previous = roll_back(config)
    click.echo(
        f"Moved @{config.champion_alias} back from version {current}"
        f" to version {previous}."
    )


@cli.command()
@config_option
@click.option(
    "--last",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="How many of the newest versions to list.",
)
def versions(config_path: Path, last: int) -> None:
    """List the registered model's versions: aliases and test metrics."""
    from ..config import load_config

    config = load_config(config_path).tracking
    from ..model import TASK
    from ..tracking.registry import list_versions

    summaries = list_versions(config, last)
    click.echo(versions_table(summaries, first_metric=TASK.PRIMARY_METRIC))


@cli.command("model-card")
@config_option
@click.option(
    "--output",
    "-o",
    "output_path",
    type=click.Path(path_type=Path),
    metavar="FILE",
    default="docs/model_card.md",
    show_default=True,
    help="Where to write the Markdown card.",
)
def model_card(config_path: Path, output_path: Path) -> None:
    """Write the champion's model card (the docs include docs/model_card.md)."""
    refuse_overwriting_inputs(output_path, config_path)
    from ..config import load_config

    config = load_config(config_path).tracking
    from ..workflows.model_card import export_champion_card

    version = export_champion_card(config, output_path)
    click.echo(f"Wrote the model card of version {version} to {output_path}")


@cli.command()
@click.option(
    "--current",
    "current_path",
    type=click.Path(path_type=Path),
    metavar="FILE|DIR",
    help="CSV/Parquet table, or directory of prediction-log files"
    " [default: monitoring.prediction_log.directory].",
)
@click.option(
    "--labels",
    "labels_path",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="True values of logged rows: request_id, row and the target column.",
)
@config_option
@model_option
@format_option
@chunk_size_option
def monitor(
    current_path: Path | None,
    labels_path: Path | None,
    config_path: Path,
    model_uri: str | None,
    output_format: str,
    chunk_size: int,
) -> None:
    """Compare current data with the model's training data; exit 3 on alerts.

    Checks drift of each feature and of the predictions, missing values,
    contract breaks, the model's age, latency and, with labels, live metrics.
    Writes a report under monitoring.reports and logs a monitoring run.
    """
    import json

    from ..config import load_config

    settings = load_config(config_path)
    from ..workflows.monitor import monitor as run_monitor
    from .group import FINDINGS_EXIT_STATUS

    result = run_monitor(settings, current_path, labels_path, model_uri, chunk_size)
    if output_format == "json":
        click.echo(json.dumps(result.as_dict(), default=str))
    else:
        for alert in result.alerts:
            click.echo(str(alert))
        count = len(result.alerts)
        alerts = {0: "No alert", 1: "1 alert"}.get(count, f"{count} alerts")
        click.echo(
            f"{alerts} on {result.findings.rows} rows; report in {result.report},"
            f" MLflow run {result.run_id}"
        )
    if result.alerts:
        raise click.exceptions.Exit(FINDINGS_EXIT_STATUS)


def versions_table(summaries: list[VersionSummary], first_metric: str) -> str:
    """Return ``summaries`` as an aligned text table, ``first_metric`` first."""
    names = sorted(
        {name for summary in summaries for name in summary.metrics},
        key=lambda name: (name != first_metric, name),
    )
    header = ["version", "created (UTC)", "aliases", *names]
    rows = [
        [
            summary.version,
            summary.created.strftime("%Y-%m-%d %H:%M"),
            ", ".join(f"@{alias}" for alias in summary.aliases) or "-",
            *(
                f"{summary.metrics[name]:.4f}" if name in summary.metrics else "-"
                for name in names
            ),
        ]
        for summary in summaries
    ]
    widths = [
        max(len(row[index]) for row in [header, *rows]) for index in range(len(header))
    ]
    return "\n".join(
        "  ".join(
            cell.ljust(width) for cell, width in zip(row, widths, strict=True)
        ).rstrip()
        for row in [header, *rows]
    )


# Commands defined in modules of their own, as each has several helpers.
cli.add_command(check_data)
cli.add_command(explain)
cli.add_command(tune)


def main() -> None:
    """Run the CLI; the console script's entry point."""
    # What a command imports lives until the process ends, and the collections
    # of interpreter shutdown walked those objects for about a second. Frozen
    # first, they are left out: the process is ending, nothing is to be freed.
    atexit.register(gc.freeze)
    cli(prog_name="{{ cookiecutter.project_slug }}")
