"""Feature transformers that work for every task type."""

import warnings
from numbers import Real
from typing import Any, ClassVar, Self

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils import Tags
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import (
    _check_feature_names_in,
    check_is_fitted,
    validate_data,
)

_FLOAT_DTYPES = (np.float64, np.float32)


class OutlierClipper(TransformerMixin, BaseEstimator):
    """Clip every feature to the quantile range seen during ``fit``.

    Values below the ``quantile`` quantile or above the ``1 - quantile``
    quantile of the training data are replaced by that bound (winsorizing).
    Missing values (``NaN``) are ignored when learning the bounds and are
    returned unchanged by ``transform``.

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

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "quantile": [Interval(Real, 0, 0.5, closed="left")],
    }

    def __init__(self, quantile: float = 0.01) -> None:
        self.quantile = quantile

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: ArrayLike, y: object = None) -> Self:
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
        return np.clip(X_valid, self.lower_, self.upper_)

    def get_feature_names_out(
        self, input_features: ArrayLike | None = None
    ) -> NDArray[np.object_]:
        """Get output feature names, which are the input feature names.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Input feature names. If None, ``feature_names_in_`` is used when
            defined, otherwise ``["x0", "x1", ...]``.

        Returns
        -------
        feature_names_out : ndarray of str objects
            Output feature names.
        """
        check_is_fitted(self)
        names: NDArray[np.object_] = _check_feature_names_in(self, input_features)
        return names

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
