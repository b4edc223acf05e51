"""A lean inference path: the fitted pipeline without the checks already made.

Scoring one row with the fitted pipeline takes a few milliseconds, most of
them spent outside the trees: validating parameters and values at each step,
and wrapping each step's output in a pandas data frame. A caller that has
already checked its rows can skip both: the scoring service checks every
request against the model's signature and data contract, batch prediction
reads each column with its signature's type and refuses infinite numbers.
The predictions are the same, which the project's tests check on the demo
data.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline

INPUT_NAMES = "feature_names_in_"


@contextmanager
def checked_input() -> Iterator[None]:
    """Skip scikit-learn's checks of parameters and finite values, in this thread.

    Safe only for input already checked: parameters were validated when the
    model was fitted, and infinite numbers are refused: JSON requests have
    none, batch prediction checks its chunks (missing values stay allowed,
    the pipeline imputes them).
    """
    with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
        yield


class LeanPredictor:
    """Predicts like a fitted estimator, faster for a few rows at a time.

    A fitted :class:`~sklearn.pipeline.Pipeline` is copied, and the copy
    passes NumPy arrays between its steps instead of the pandas data frames
    the pipeline was set to produce; each call runs in :func:`checked_input`.
    The steps computing on NumPy arrays compute the same numbers. A pipeline
    selecting columns by name after its first step, and any other
    estimator, are used as they are. The copy costs the memory of the model
    once more.

    Parameters
    ----------
    estimator : Any
        A fitted scikit-learn estimator or pipeline, taking a data frame of
        the columns it was fitted on.
    """

    def __init__(self, estimator: Any) -> None:  # noqa: ANN401 (any estimator)
        self.estimator = (
            _numpy_between_steps(estimator)
            if isinstance(estimator, Pipeline) and _takes_arrays_after_first(estimator)
            else estimator
        )

    def predict(self, df: pd.DataFrame) -> np.ndarray[Any, Any]:
        """Return the estimator's prediction for each row of the checked ``df``."""
        with checked_input():
            return np.asarray(self.estimator.predict(df))

    def predict_proba(self, df: pd.DataFrame) -> np.ndarray[Any, Any]:
        """Return the estimator's class probabilities for each row of ``df``."""
        with checked_input():
            return np.asarray(self.estimator.predict_proba(df))


def _numpy_between_steps(pipeline: Pipeline) -> Pipeline:
    """Return a copy of ``pipeline`` whose steps hand NumPy arrays to each other.

    The steps that now receive arrays instead of data frames forget the
    column names they were fitted with, which they would otherwise warn
    about missing on every call; they still check the number of columns.
    """
    lean = copy.deepcopy(pipeline)
    lean.set_output(transform="default")
    _forget_names_after_first_step(lean)
    return lean


def _takes_arrays_after_first(pipeline: Pipeline) -> bool:
    """Whether no step after the first selects columns, which needs their names."""
    return not any(
        isinstance(inner, ColumnTransformer)
        for _, step in pipeline.steps[1:]
        for inner in _within(step)
    )


def _within(step: Any) -> Iterator[Any]:  # noqa: ANN401 (any estimator)
    """Yield ``step`` and every estimator inside it."""
    yield step
    if isinstance(step, Pipeline):
        for _, inner in step.steps:
            yield from _within(inner)
    elif isinstance(step, ColumnTransformer):
        for _, transformer, _ in getattr(step, "transformers_", ()):
            yield from _within(transformer)


def _forget_names_after_first_step(pipeline: Pipeline) -> None:
    """Forget the input names of every step but the first, which gets the frame."""
    first, *rest = [step for _, step in pipeline.steps]
    _forget_names_within(first)
    for step in rest:
        _forget_all_names(step)


def _forget_names_within(step: Any) -> None:  # noqa: ANN401 (any estimator)
    """Forget names inside ``step``, which itself receives the data frame."""
    if isinstance(step, Pipeline):
        _forget_names_after_first_step(step)
    elif isinstance(step, ColumnTransformer):
        # Each transformer receives a data frame of its columns.
        for _, transformer, _ in getattr(step, "transformers_", ()):
            _forget_names_within(transformer)


def _forget_all_names(step: Any) -> None:  # noqa: ANN401 (any estimator)
    """Forget the input names of ``step`` and of everything inside it."""
    for inner in _within(step):
        if hasattr(inner, INPUT_NAMES):
            delattr(inner, INPUT_NAMES)
