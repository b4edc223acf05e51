"""Feature transformers that work for every task type."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils import Tags
from sklearn.utils.validation import check_is_fitted, validate_data

_FLOAT_DTYPES = (np.float64, np.float32)
# Exclusive upper bound of ``quantile``: clipping half of each tail would
# leave no range at all.
MAX_QUANTILE = 0.5


class OutlierClipper(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Clip every feature to the quantile range seen during ``fit``.

    Values below the ``quantile`` quantile or above the ``1 - quantile``
    quantile of the training data are replaced by that bound (winsorizing).
    Missing values (``NaN``) are ignored when learning the bounds and are
    returned unchanged by ``transform``. Output feature names are the input
    names (``get_feature_names_out`` comes from ``OneToOneFeatureMixin``), so
    ``set_output(transform="pandas")`` keeps the columns.

    Parameters
    ----------
    quantile : float, default=0.01
        Fraction of each tail to clip, in ``[0, 0.5)``. ``0`` clips to the
        training minimum and maximum.

    Attributes
    ----------
    lower_ : ndarray of shape (n_features_in_,)
        Lower bound of each feature. ``-inf`` for features that were entirely
        missing during ``fit``.
    upper_ : ndarray of shape (n_features_in_,)
        Upper bound of each feature. ``+inf`` for features that were entirely
        missing during ``fit``.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during ``fit``. Defined only when ``X`` has
        feature names that are all strings.

    Examples
    --------
    >>> X = [[-100.0], [5.0], [100.0]]
    >>> OutlierClipper(quantile=0.1).fit_transform(X)
    array([[-79.],
           [  5.],
           [ 81.]])
    """

    def __init__(self, quantile: float = 0.01) -> None:
        self.quantile = quantile

    def fit(self, X: ArrayLike, y: object = None) -> OutlierClipper:
        """Learn the clipping bounds of each feature.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data. May contain ``NaN``.
        y : None
            Ignored; present for API consistency.

        Returns
        -------
        self : OutlierClipper
            The fitted transformer.
        """
        if not 0 <= self.quantile < MAX_QUANTILE:
            raise ValueError(
                f"quantile must be in [0, {MAX_QUANTILE}), got {self.quantile!r}"
            )
        X_valid = self._validate_input(X, reset=True)
        self.lower_ = _nan_quantile(X_valid, self.quantile, fill=-np.inf)
        self.upper_ = _nan_quantile(X_valid, 1 - self.quantile, fill=np.inf)
        return self

    def transform(self, X: ArrayLike) -> NDArray[np.floating[Any]]:
        """Clip each feature to its learned bounds.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to clip. May contain ``NaN``, which is left as is.

        Returns
        -------
        X_clipped : ndarray of shape (n_samples, n_features)
            Clipped copy of ``X``.
        """
        check_is_fitted(self)
        X_valid = self._validate_input(X, reset=False)
        X_clipped: NDArray[np.floating[Any]] = np.clip(
            X_valid, self.lower_, self.upper_
        )
        return X_clipped

    def __sklearn_tags__(self) -> Tags:
        """Declare NaN support and float32 preservation to scikit-learn."""
        tags: Tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    def _validate_input(
        self, X: ArrayLike, *, reset: bool
    ) -> NDArray[np.floating[Any]]:
        """Return ``X`` as a float array, allowing NaN but not infinity."""
        X_valid: NDArray[np.floating[Any]] = validate_data(
            self, X, reset=reset, dtype=_FLOAT_DTYPES, ensure_all_finite="allow-nan"
        )
        return X_valid


def _nan_quantile(
    X: NDArray[np.floating[Any]], q: float, *, fill: float
) -> NDArray[np.floating[Any]]:
    """Return the column-wise quantile of ``X``, ignoring NaN.

    Columns without any observed value get ``fill`` so that they are never
    clipped.
    """
    with warnings.catch_warnings():
        # An all-NaN column is expected here and handled by ``fill`` below.
        warnings.simplefilter("ignore", RuntimeWarning)
        bounds = np.nanquantile(X, q, axis=0)
    return np.where(np.isnan(bounds), fill, bounds).astype(X.dtype, copy=False)
