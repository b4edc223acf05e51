"""The ``tune`` command: search the model's hyperparameters.

This module imports only Click, so that the CLI's ``--help`` stays instant;
Optuna, scikit-learn and MLflow are imported when the command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..errors import ProjectError
from .options import config_option

if TYPE_CHECKING:
    from ..workflows.tune import TuningResult


@click.command()
@config_option
@click.option(
    "--trials",
    type=click.IntRange(min=1),
    metavar="N",
    help="Settings to try [default: tuning.trials].",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="Start no new trial after this long [default: tuning.timeout_seconds].",
)
@click.option(
    "--write",
    is_flag=True,
    help="Write the best values into the model section of the config file.",
)
def tune(
    config_path: Path, trials: int | None, timeout: float | None, write: bool
) -> None:
    """Search the model's hyperparameters by cross-validation on the training rows.

    Each trial is logged to MLflow as a nested run of one tuning run. The
    best values are printed as model: lines for the config file, or written
    into it with --write, every other line of the file kept as it is.
    """
    from ..config import load_config

    settings = load_config(config_path)
    from ..workflows.model_values import check_writable
    from ..workflows.tune import tune as search

    if write:
        check_writable(config_path, settings.tuning.search_space)
    result = search(settings, trials, timeout)
    _report(result, config_path, write)


def _report(result: TuningResult, config_path: Path, write: bool) -> None:
    """Print the best values found, or write them into ``config_path``.

    After Ctrl-C, the best of the completed trials is printed, never written.
    """
    from ..model import TASK
    from ..workflows.model_values import best_params_yaml, write_best_params

    trials = f"{result.trials} completed trial{'' if result.trials == 1 else 's'}"
    click.echo(
        f"Best {TASK.PRIMARY_METRIC} {result.best_score:.4f} (mean over the folds)"
        f" of {trials}, logged as run {result.parent_run_id}"
    )
    if result.interrupted:
        click.echo(best_params_yaml(result.best_params), nl=False)
        unwritten = ", not written" if write else ""
        raise KeyboardInterrupt(
            f"the best values of the completed trials are above{unwritten}"
        )
    if write:
        try:
            write_best_params(config_path, result.best_params)
        except ProjectError:
            # The error says why; the values found must not be lost with it.
            click.echo(best_params_yaml(result.best_params), nl=False)
            raise
        names = ", ".join(result.best_params)
        click.echo(f"Wrote {names} into {config_path}; train with them:")
        click.echo(
            f"{{ cookiecutter.project_slug }} train --config {config_path}",
        )
        return
    click.echo("Set these in config.yaml (or rerun with --write), then train:")
    click.echo(best_params_yaml(result.best_params), nl=False)
