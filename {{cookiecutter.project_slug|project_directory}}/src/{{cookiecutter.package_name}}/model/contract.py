"""The task contract, and the project's task module held to it.

The project is generated for one task, classification or regression, whose
module (``model/task.py``) defines the model and how it is scored. Every other
module uses the task only through :data:`TASK`, typed as :class:`Task`, so
mypy checks that the task module keeps the contract.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from . import task

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure
    from numpy.typing import ArrayLike
    from sklearn.pipeline import Pipeline

    from .estimators import BoostedTreesEstimator


class Task(Protocol):
    """The names every task module defines, with their types.

    Attributes
    ----------
    NAME : str
        The task's name: ``"classification"`` or ``"regression"``.
    ESTIMATOR : type of BoostedTreesEstimator
        The estimator class that ends the pipeline; it takes the ``model``
        section of the configuration and ``random_state`` as parameters.
    PRIMARY_METRIC : str
        Key of :meth:`compute_metrics` that selects and compares models.
    GREATER_IS_BETTER : bool
        Whether a higher ``PRIMARY_METRIC`` means a better model.
    """

    NAME: str
    ESTIMATOR: type[BoostedTreesEstimator]
    PRIMARY_METRIC: str
    GREATER_IS_BETTER: bool

    def compute_metrics(self, y_true: ArrayLike, y_pred: ArrayLike) -> dict[str, float]:
        """Score predictions against the truth; keys include the primary metric."""

    def evaluation_metrics(
        self, model: Pipeline, X: pd.DataFrame, y: pd.Series
    ) -> dict[str, float]:
        """Score a fitted pipeline on labelled rows, beyond plain predictions."""

    def evaluation_plots(
        self, model: Pipeline, X: pd.DataFrame, y: pd.Series
    ) -> dict[str, Figure]:
        """Draw the task's diagnostic figures, by file name."""

    def stratify_by(self, y: pd.Series) -> pd.Series | None:
        """Return the labels to stratify train/test splits on, or ``None``."""

    def check_target(self, y: pd.Series, source: object) -> None:
        """Raise ``DataError`` naming ``source`` if ``y`` cannot train the model."""


TASK: Task = task
"""This project's task module, seen through the contract."""
