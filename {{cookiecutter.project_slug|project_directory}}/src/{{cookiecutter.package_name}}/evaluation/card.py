"""The model card: one Markdown page on what a trained model is and how it does.

It is written by every training run from what that run knows (data, data
contract, metrics, slices, feature importance, fairness audit, the promotion
gate's decision, provenance) and the prose of the ``card`` section of the
configuration (intended use, limitations), and logged with the run as
``model_card.md``. The prose describes the data file named by
``card.written_for``; a run on another file gets a card that says its prose is
not written yet, never the prose of other data. The ``model-card`` command
exports the champion's card into the documentation
(:func:`~{{ cookiecutter.package_name }}.workflows.model_card.export_champion_card`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence

import pandas as pd

from ..config import Settings, TrackingConfig
from ..data import Split
from ..data.contract import ColumnContract, Contract
from ..model import TASK
from .fairness import GroupAudit
from .importance import FeatureImportance
from .report import Evaluation

logger = logging.getLogger(__name__)

CARD_ARTIFACT = "model_card.md"
# Categories listed in the card's contract table; more are counted.
MAX_LISTED_VALUES = 10
PROVENANCE_LABELS = {
    "git.commit": "git commit",
    "git.dirty": "uncommitted changes",
    "lock.sha256": "uv.lock SHA-256",
    "package.version": "package version",
    "python.version": "Python",
    "platform": "platform",
    "seed": "seed",
}


def _cell(value: object) -> str:
    text = f"{value:.4f}" if isinstance(value, float) else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """Return a Markdown table; ``|`` in a cell is escaped, floats get 4 decimals."""
    lines = [
        "| " + " | ".join(_cell(name) for name in header) + " |",
        "|" + "---|" * len(header),
    ]
    lines.extend("| " + " | ".join(_cell(cell) for cell in row) + " |" for row in rows)
    return "\n".join(lines)


def _slices_section(slices: pd.DataFrame) -> str:
    if slices.empty:
        return (
            "No slices: no categorical feature has few enough values, or"
            " `evaluation.slice_columns` is empty."
        )
    rows = slices.astype(object).where(slices.notna(), "n/a").itertuples(index=False)
    return markdown_table(list(slices.columns), rows)


def accepted_values(column: ColumnContract) -> str:
    """Describe what the contract accepts in ``column``, for the card.

    Examples
    --------
    >>> accepted_values(ColumnContract("island", "categorical", False, 0.0,
    ...                                categories=("Biscoe", "Dream")))
    'Biscoe, Dream'
    >>> accepted_values(ColumnContract("mass", "numeric", True, 0.0058,
    ...                                lower=2340.0, upper=6660.0))
    '2340 to 6660'
    """
    if column.personal:
        return "not recorded: personal data"
    if column.categories is not None:
        listed = ", ".join(column.categories[:MAX_LISTED_VALUES])
        more = len(column.categories) - MAX_LISTED_VALUES
        return f"{listed} and {more} more" if more > 0 else listed
    if column.lower is None or column.upper is None:
        return "anything: no value in training"
    return f"{column.lower:.6g} to {column.upper:.6g}"


def _contract_section(contract: Contract) -> str:
    rows = [
        (
            column.name,
            column.kind,
            f"{column.null_rate:.1%}",
            accepted_values(column),
        )
        for column in contract.columns
    ]
    header = ["column", "kind", "missing in training", "accepted"]
    return (
        "Learned from the training rows and stored with the model"
        " (`data_contract.yaml`); `validate`, `predict`, `serve` and `monitor`"
        " check new data against it.\n\n" + markdown_table(header, rows)
    )


def _importance_section(importance: FeatureImportance) -> str:
    rows = [
        (row.feature, row.importance, row.std, "yes" if row.helps else "no")
        for row in importance.table.itertuples(index=False)
    ]
    return (
        f"How much {importance.metric} worsens on the held-out rows when a"
        " feature's values are shuffled (mean and standard deviation over"
        f" {importance.repeats} shuffles). A feature that does not help has an"
        " importance indistinguishable from zero.\n\n"
        + markdown_table(["feature", "importance", "std", "helps"], rows)
    )


def _gap_line(audit: GroupAudit) -> str:
    facts = [
        (f"largest {TASK.PRIMARY_METRIC} gap between groups", audit.gap),
        ("demographic parity difference", audit.demographic_parity_difference),
        ("equalized odds difference", audit.equalized_odds_difference),
    ]
    known = [f"{name} {value:.4f}" for name, value in facts if value is not None]
    if not known:
        return "Fewer than two groups are large enough to compare."
    return known[0].capitalize() + "".join(f"; {fact}" for fact in known[1:]) + "."


def _fairness_section(audits: Sequence[GroupAudit], min_group_rows: int) -> str:
    if not audits:
        return (
            "No column is audited: list the columns whose groups the model must"
            " serve alike in `fairness.sensitive_features`."
        )
    parts = [
        f"Scored on the held-out rows of each group; gaps compare the groups of"
        f" at least {min_group_rows} rows."
    ]
    for audit in audits:
        groups = audit.groups.astype(object).where(audit.groups.notna(), "n/a")
        table = markdown_table(
            list(audit.groups.columns), groups.itertuples(index=False)
        )
        parts += [f"### {audit.column}", table, _gap_line(audit)]
    return "\n\n".join(parts)


def card_prose(settings: Settings) -> tuple[str, str]:
    """Return the card's intended use and limitations for the configured data.

    Prose written for another file (``card.written_for`` is set and is not
    ``data.path``) is left out: both sections then say the prose is not
    written yet for this file, and a warning names the keys to update.
    """
    card, data_path = settings.card, settings.data.path
    if card.written_for is None or card.written_for.resolve() == data_path.resolve():
        return card.intended_use, card.limitations
    logger.warning(
        "The model card's prose was written for %s, not for %s: update"
        " card.intended_use, card.limitations and card.written_for in the"
        " configuration",
        card.written_for,
        data_path,
    )
    # The card names only its own data: the other file's name stays in the log.
    not_written = (
        f"Not written yet for `{data_path.name}`: set `card.intended_use`,"
        " `card.limitations` and `card.written_for` in the configuration."
    )
    return not_written, not_written


def render_card(
    settings: Settings,
    split: Split,
    evaluation: Evaluation,
    tags: Mapping[str, str],
    run_id: str,
    *,
    contract: Contract,
    importance: FeatureImportance,
    fairness: Sequence[GroupAudit],
    gate: Sequence[str],
) -> str:
    """Return the Markdown model card of the run ``run_id``.

    ``tags`` are the run's provenance tags (see
    :func:`~{{ cookiecutter.package_name }}.tracking.provenance.log_provenance`);
    ``contract`` is the data contract learned from the training rows;
    ``importance`` and ``fairness`` were measured on the held-out rows;
    ``gate`` describes the promotion gate's decision, one line each.
    """
    data = settings.data
    intended_use, limitations = card_prose(settings)
    sections = [
        f"# Model card: {settings.tracking.registered_model}",
        f"{TASK.NAME.capitalize()} model predicting `{data.target}` "
        f"from {len(data.features)} features, trained in MLflow run `{run_id}`.",
        "## Intended use",
        intended_use,
        "## Data",
        markdown_table(
            ["", "value"],
            [
                ("file", data.path.name),
                ("file SHA-256", tags.get("data.sha256", "n/a")),
                ("training rows", len(split.train.target)),
                ("test rows", len(split.test.target)),
                ("training digest (MLflow)", tags.get("data.training_digest", "n/a")),
                ("test digest (MLflow)", tags.get("data.evaluation_digest", "n/a")),
                ("numeric features", ", ".join(data.numeric_features) or "none"),
                (
                    "categorical features",
                    ", ".join(data.categorical_features) or "none",
                ),
            ],
        ),
        "## Data contract",
        _contract_section(contract),
        "## Metrics",
        "Scored on the held-out test rows.",
        markdown_table(["metric", "value"], evaluation.metrics.items()),
        "## Slices",
        _slices_section(evaluation.slices),
        "## Feature importance",
        _importance_section(importance),
        "## Fairness",
        _fairness_section(fairness, settings.fairness.min_group_rows),
        "## Promotion gate",
        "\n".join(f"- {line}" for line in gate),
        "## Limitations",
        limitations,
        "## Provenance",
        markdown_table(
            ["", "value"],
            [(label, tags.get(key, "n/a")) for key, label in PROVENANCE_LABELS.items()],
        ),
    ]
    return "\n\n".join(sections) + "\n"


def with_version_note(card_text: str, version: str, config: TrackingConfig) -> str:
    """Return ``card_text`` with a line naming its registered version."""
    title, _, body = card_text.partition("\n\n")
    note = (
        f"Version {version} of registered model `{config.registered_model}`,"
        f" holding `@{config.champion_alias}` when this page was written."
    )
    return f"{title}\n\n{note}\n\n{body}"
