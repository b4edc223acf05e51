"""The machinery shared by the project's gradient-boosted estimators.

The estimator of either task wraps one of scikit-learn's histogram
gradient-boosting estimators. Its hyperparameters are declared once, in
:class:`BoostedTreesEstimator`, and ``fit`` hands all of them to the booster
through ``get_params``: a new hyperparameter is added here and in the
``model`` section of the configuration, nowhere else.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator
from sklearn.utils import Tags
from sklearn.utils.validation import check_is_fitted, validate_data


class BoostedTreesEstimator(BaseEstimator):
    """Base of the gradient-boosted trees estimators: hyperparameters and booster.

    Subclasses name the scikit-learn booster they wrap in ``booster_class``
    and implement ``fit`` and the predict methods of their task with
    ``_fit_booster`` and ``_validated``.

    Parameters
    ----------
    learning_rate : float, default=0.1
        Shrinkage applied to the contribution of each tree.
    max_iter : int, default=100
        Maximum number of boosting iterations.
    max_leaf_nodes : int or None, default=31
        Maximum number of leaves per tree. None means no limit.
    min_samples_leaf : int, default=20
        Minimum number of samples per leaf.
    l2_regularization : float, default=0.0
        L2 penalty on the leaf values.
    random_state : int, RandomState instance or None, default=None
        Seed for the booster's randomness (early-stopping split, binning
        subsample). Pass an int for reproducible results.

    Attributes
    ----------
    booster_ : estimator
        The fitted underlying booster, an instance of ``booster_class``.
    n_iter_ : int
        Number of boosting iterations actually run.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during ``fit``. Defined only when ``X`` has
        feature names that are all strings.
    """

    booster_class: ClassVar[type[BaseEstimator]]
    """The scikit-learn estimator that does the boosting."""

    def __init__(
        self,
        *,
        learning_rate: float = 0.1,
        max_iter: int = 100,
        max_leaf_nodes: int | None = 31,
        min_samples_leaf: int = 20,
        l2_regularization: float = 0.0,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.random_state = random_state

    def __sklearn_tags__(self) -> Tags:
        """Declare NaN support to scikit-learn."""
        tags: Tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    def _fit_booster(self, X: ArrayLike, y: ArrayLike) -> None:
        """Fit a new booster with every hyperparameter of this estimator."""
        self.booster_ = self.booster_class(**self.get_params()).fit(X, y)
        self.n_iter_ = self.booster_.n_iter_

    def _validated(self, X: ArrayLike) -> NDArray[Any]:
        """Check that the model is fitted and ``X`` matches the training data."""
        check_is_fitted(self)
        validated: NDArray[Any] = validate_data(
            self, X, reset=False, ensure_all_finite="allow-nan"
        )
        return validated
