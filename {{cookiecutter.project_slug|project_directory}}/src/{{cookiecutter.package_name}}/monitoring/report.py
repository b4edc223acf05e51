"""The monitoring report: Markdown tables of every finding, and a plot per column.

A report is a directory named after the UTC time it was written, holding
``report.md`` and one PNG per watched column (reference against current). It
is written under a temporary name and renamed when complete, so a reader
never sees half a report.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..errors import ProjectError
from ..files import atomic_path
from ..model.plotting import new_figure
from .alerts import Alert, Findings, break_rate
from .drift import FeatureDrift

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

REPORT_FILE = "report.md"
PLOTTED_CATEGORIES = 20
"""Most categories drawn in a plot, the reference's commonest."""
HISTOGRAM_BINS = 30

_UNSAFE = re.compile(r"[^\w.-]")
_HASH_LENGTH = 8
MAX_NAME_LENGTH = 100
"""Longest column part of a file or metric name; file systems and MLflow limit both."""


def safe_name(text: str) -> str:
    """Return ``text`` usable in a file or MLflow metric name, distinct from others.

    Characters other than letters, digits, ``_``, ``.`` and ``-`` become
    ``_``, a long name is cut to :data:`MAX_NAME_LENGTH`, and a short hash of
    the original text is appended when either happened.

    Examples
    --------
    >>> safe_name("bill_length_mm")
    'bill_length_mm'
    >>> safe_name("Home Island")
    'Home_Island-3d797db2'
    >>> len(safe_name("x" * 300)) == MAX_NAME_LENGTH
    True
    """
    safe = _UNSAFE.sub("_", text)
    if safe == text and len(text) <= MAX_NAME_LENGTH:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:_HASH_LENGTH]
    return f"{safe[: MAX_NAME_LENGTH - _HASH_LENGTH - 1]}-{digest}"


def plot_file(column: str) -> str:
    """Return the file name of ``column``'s plot in a report."""
    return f"{safe_name(column)}.png"


def write_report(
    parent: Path,
    about: Mapping[str, str],
    *,
    findings: Findings,
    alerts: Sequence[Alert],
    reference: pd.DataFrame,
    current: pd.DataFrame,
) -> Path:
    """Write a report directory under ``parent`` and return its path.

    Parameters
    ----------
    parent : Path
        Where report directories go (``monitoring.reports``); created if missing.
    about : mapping of str to str
        What was compared, shown first: the model, the data, the row count.
    findings, alerts
        What ``monitor`` measured, and the thresholds it crossed.
    reference, current : pandas.DataFrame
        The reference sample and the sample of current rows, plotted column
        by column.

    Raises
    ------
    ProjectError
        If the directory cannot be written.
    """
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = parent / stamp
    drifts = [*findings.drift, *filter(None, [findings.prediction_drift])]
    try:
        parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as partial:
            partial.mkdir()
            for drift in drifts:
                figure = plot_drift(
                    drift, reference[drift.feature], current[drift.feature]
                )
                figure.savefig(partial / plot_file(drift.feature))
            text = render_report(about, findings, alerts)
            (partial / REPORT_FILE).write_text(text, encoding="utf-8")
    except OSError as error:
        raise ProjectError(
            f"cannot write the report in {parent}: {error.strerror}"
        ) from error
    return path


def render_report(
    about: Mapping[str, str], findings: Findings, alerts: Sequence[Alert]
) -> str:
    """Return the Markdown text of a report."""
    sections = [
        "# Monitoring report",
        _table(["", ""], [[name, value] for name, value in about.items()]),
        "## Alerts",
        "\n".join(f"- {alert}" for alert in alerts) or "None: no threshold crossed.",
        "## Feature drift",
        _drift_table(findings.drift),
        "## Prediction drift",
        _drift_table(list(filter(None, [findings.prediction_drift]))),
        f"Rows without a finite prediction (missing or infinite):"
        f" {findings.invalid_predictions} of {findings.rows}.",
        "## Missing values",
        _table(
            ["column", "at training", "now", "change"],
            [
                [
                    c.column,
                    f"{c.reference_rate:.2%}",
                    f"{c.current_rate:.2%}",
                    f"{c.increase:+.2%}",
                ]
                for c in findings.null_rates
            ],
        ),
        "## Data contract",
        _contract_section(findings),
        "## Model",
        _model_section(findings),
        "## Live metrics",
        _live_section(findings),
    ]
    return "\n\n".join(sections) + "\n"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    if not rows:
        return "Nothing to show."
    lines = [header, ["---"] * len(header), *rows]
    return "\n".join(
        "| " + " | ".join(_cell(cell) for cell in line) + " |" for line in lines
    )


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _drift_table(drifts: Sequence[FeatureDrift]) -> str:
    rows = [
        [
            drift.feature,
            drift.kind,
            f"{drift.psi:.3f}",
            drift.test.describe(),
            f"{drift.reference_values} / {drift.current_values}",
            f"![{drift.feature}]({plot_file(drift.feature)})",
        ]
        for drift in drifts
    ]
    header = ["column", "kind", "PSI", "test", "values (reference / now)", "plot"]
    return _table(header, rows)


def _contract_section(findings: Findings) -> str:
    breaks = findings.breaks
    if breaks is None:
        return "Not checked: the model was logged without a data contract."
    rate = break_rate(breaks)
    summary = f"{breaks.broken_rows} of {breaks.rows} rows ({rate:.2%}) break it."
    rows = [
        [
            found.column,
            found.rule,
            found.expected,
            str(found.rows),
            _example(found.example),
        ]
        for found in breaks.breaks
    ]
    header = ["column", "rule", "expected", "rows", "example"]
    return summary + "\n\n" + _table(header, rows)


def _example(value: object) -> str:
    return "-" if value is None else repr(value)


def _model_section(findings: Findings) -> str:
    lines = []
    age = findings.age
    lines.append(
        "- Age: not known (the model is not a registry version)."
        if age is None
        else f"- Age: version {age.version} was created {age.days:.1f} days ago."
    )
    latency = findings.latency
    lines.append(
        "- Latency: not measured (needs a prediction log and a model that recorded"
        " its latency at training)."
        if latency is None
        else f"- Latency: median {latency.median_ms:.1f} ms per request, against"
        f" {latency.training_ms:.1f} ms for one row at training"
        f" ({latency.ratio:.1f} times)."
    )
    return "\n".join(lines)


def _live_section(findings: Findings) -> str:
    live = findings.live
    if live is None:
        return "Not measured: no labelled rows (see monitor --labels)."
    rows = [
        [name, f"{value:.4f}", _number(live.offline.get(name))]
        for name, value in live.live.items()
    ]
    return f"On {live.rows} labelled rows.\n\n" + _table(
        ["metric", "live", "offline"], rows
    )


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def plot_drift(drift: FeatureDrift, reference: pd.Series, current: pd.Series) -> Figure:
    """Draw ``reference`` against ``current`` values of one column."""
    figure = new_figure()
    axes = figure.add_subplot()
    if drift.kind == "numeric":
        _plot_numbers(axes, reference, current)
    else:
        _plot_categories(axes, reference, current)
    axes.set_title(f"{drift.feature}: PSI {drift.psi:.3f}")
    axes.legend()
    return figure


def _plot_numbers(axes: Axes, reference: pd.Series, current: pd.Series) -> None:
    before = pd.to_numeric(reference, errors="coerce").dropna().to_numpy()
    now = pd.to_numeric(current, errors="coerce").dropna().to_numpy()
    edges = np.histogram_bin_edges(np.concatenate([before, now]), bins=HISTOGRAM_BINS)
    for values, label in ((before, "reference"), (now, "current")):
        axes.hist(values, bins=edges.tolist(), density=True, alpha=0.5, label=label)
    axes.set_ylabel("density")


def _plot_categories(axes: Axes, reference: pd.Series, current: pd.Series) -> None:
    before = reference.dropna().astype(str).value_counts(normalize=True)
    now = current.dropna().astype(str).value_counts(normalize=True)
    categories = list(before.index[:PLOTTED_CATEGORIES])
    positions = np.arange(len(categories))
    width = 0.4
    axes.bar(
        positions - width / 2,
        before.reindex(categories, fill_value=0),
        width,
        label="reference",
    )
    axes.bar(
        positions + width / 2,
        now.reindex(categories, fill_value=0),
        width,
        label="current",
    )
    axes.set_xticks(positions, categories, rotation=45, ha="right")
    axes.set_ylabel("share of rows")
