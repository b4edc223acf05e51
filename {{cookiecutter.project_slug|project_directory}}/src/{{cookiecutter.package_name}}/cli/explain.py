"""The ``explain`` command: a model's feature importance, or the reasons for one answer.

This module imports only Click, so that the CLI's ``--help`` stays instant;
the model and the data are loaded when the command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from .options import config_option, model_option

if TYPE_CHECKING:
    from ..evaluation.importance import FeatureImportance, RowExplanation

NO_HELP_MARK = "does not help"


@click.command()
@config_option
@model_option
@click.option(
    "--data",
    "data_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Labelled CSV/Parquet to explain on [default: the configured test split].",
)
@click.option(
    "--row",
    "row",
    type=click.IntRange(min=0),
    metavar="N",
    help="Explain the prediction for row N of the data (counting from 0)"
    " instead of ranking the features.",
)
@click.option(
    "--output",
    "-o",
    "output_path",
    type=click.Path(path_type=Path),
    metavar="PNG",
    help="Where to write the figure"
    " [default: feature_importance.png, or row_N.png with --row].",
)
def explain(
    config_path: Path,
    model_uri: str | None,
    data_path: Path | None,
    row: int | None,
    output_path: Path | None,
) -> None:
    """Rank a model's features by importance, or explain one prediction.

    A feature's importance is how much the primary metric drops when its
    column is shuffled; with --row N, each feature's contribution is how far
    the row's value moves the answer from what typical values give.
    """
    from ..config import load_config

    settings = load_config(config_path)
    from ..workflows.explain import explain as explain_model

    result = explain_model(settings, model_uri, data_path, row, output_path)
    if result.importance is not None:
        _echo_importance(result.model_uri, result.importance)
    if result.row is not None:
        _echo_row(result.model_uri, row, result.row)
    click.echo(f"Wrote {result.figure_path}")


def _echo_importance(model_uri: str, importance: FeatureImportance) -> None:
    click.echo(
        f"Feature importance of {model_uri}: how much worse {importance.metric}"
        f" gets when each feature is shuffled ({importance.repeats} times)"
    )
    table = importance.table
    width = max(len("feature"), *(len(name) for name in table["feature"]))
    click.echo(f"{'feature':<{width}}  {'importance':>10}  {'std':>8}")
    for name, value, spread, helps in table.itertuples(index=False):
        mark = "" if helps else f"  {NO_HELP_MARK}"
        click.echo(f"{name:<{width}}  {value:>10.4f}  {spread:>8.4f}{mark}")


def _echo_row(model_uri: str, row: int | None, explanation: RowExplanation) -> None:
    click.echo(f"Row {row}: {model_uri} predicts {_text(explanation.prediction)}")
    click.echo(
        f"Baseline {explanation.explained}: {explanation.baseline:.4f}"
        " (its mean over the data's rows)"
    )
    table = explanation.contributions
    width = max(len("feature"), *(len(name) for name in table["feature"]))
    from ..evaluation.report import MISSING_VALUE

    missing = table["value"].isna()
    values = [
        MISSING_VALUE if absent else _text(value)
        for value, absent in zip(table["value"], missing, strict=True)
    ]
    value_width = max(len("value"), *(len(value) for value in values))
    click.echo(f"{'feature':<{width}}  {'value':<{value_width}}  {'contribution':>12}")
    for name, value, contribution in zip(
        table["feature"], values, table["contribution"], strict=True
    ):
        shown = _signed(contribution)
        click.echo(f"{name:<{width}}  {value:<{value_width}}  {shown:>12}")


def _signed(value: float) -> str:
    """Return ``value`` to four decimals with its sign; ``0`` if it rounds to zero."""
    rounded = round(value, 4)
    return f"{rounded:+.4f}" if rounded else "0"


def _text(value: object) -> str:
    """Return ``value`` as printed: a number with at most six significant digits."""
    return f"{value:.6g}" if isinstance(value, float) else str(value)
