"""The reference sample: training rows and their predictions, stored with the model.

``monitor`` compares current data with it: the quantile bins of the PSI and
the Kolmogorov-Smirnov test come from its numbers, the category shares from
its categories, and prediction drift from its ``prediction`` column.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from .log_format import PREDICTION

REFERENCE_ROWS = 5000
"""Most training rows kept, enough for stable quantiles and small enough to store."""


def build_reference(
    features: pd.DataFrame, predictions: ArrayLike, seed: int
) -> pd.DataFrame:
    """Return at most :data:`REFERENCE_ROWS` rows of ``features``, with predictions.

    Parameters
    ----------
    features : pandas.DataFrame
        The training rows' features, without the columns no file may hold
        (personal data).
    predictions : array-like of shape (n_rows,)
        The pipeline's prediction for each row of ``features``.
    seed : int
        Seeds the sample, so that the same training run keeps the same rows.

    Returns
    -------
    pandas.DataFrame
        The sampled rows in their original order, indexed from 0, with the
        predictions in a last column, ``prediction``.

    Examples
    --------
    >>> features = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    >>> build_reference(features, ["a", "b", "c"], seed=0)
         x prediction
    0  1.0          a
    1  2.0          b
    2  3.0          c
    """
    predicted = np.asarray(predictions)
    if len(predicted) != len(features):
        raise ValueError(
            f"{len(predicted)} predictions for {len(features)} rows of features"
        )
    rows = min(len(features), REFERENCE_ROWS)
    chosen = np.sort(
        np.random.default_rng(seed).choice(len(features), rows, replace=False)
    )
    reference = features.iloc[chosen].reset_index(drop=True)
    return reference.assign(**{PREDICTION: predicted[chosen]})
