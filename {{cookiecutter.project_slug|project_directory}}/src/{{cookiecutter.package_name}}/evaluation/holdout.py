"""The held-out rows: the one reproducible split that training and evaluation share."""

from __future__ import annotations

from ..config import Settings
from ..data import Split, load_dataset, split_dataset
from ..model import TASK


def holdout_split(settings: Settings) -> Split:
    """Load the configured data and split it reproducibly into train and test.

    The same configuration always gives the same split (stratified on the
    target where the task allows it), so ``evaluate`` scores a model on the
    very rows that ``train`` held out.
    """
    dataset = load_dataset(settings.data)
    stratify = TASK.stratify_by(dataset.target)
    return split_dataset(dataset, settings.data.test_size, settings.seed, stratify)
