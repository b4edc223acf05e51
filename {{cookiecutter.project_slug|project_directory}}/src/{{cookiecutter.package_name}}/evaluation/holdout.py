"""The held-out rows: the one reproducible split that training and evaluation share."""

from __future__ import annotations

from ..config import Settings
from ..data import Split, load_dataset, split_dataset
from ..model import TASK


def holdout_split(settings: Settings) -> Split:
    """Load the configured data, check it can train the task, split it reproducibly.

    The columns audited for fairness that are not features come along in
    each part's ``audit`` table.

    The same configuration always gives the same split (stratified on the
    target where the task allows it), so ``evaluate`` scores a model on the
    very rows that ``train`` held out.

    Raises
    ------
    DataError
        Naming the data file, if it is unusable, if its target cannot train
        the task's model (a single class, a constant or a non-numeric target),
        or if it has too few rows to split.
    """
    source = settings.data.path
    dataset = load_dataset(settings.data, audit_columns=settings.audit_columns)
    TASK.check_target(dataset.target, source)
    stratify = TASK.stratify_by(dataset.target)
    return split_dataset(
        dataset, settings.data.test_size, settings.seed, stratify, source
    )
