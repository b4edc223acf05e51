from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import (
    check_dataframe_column_names_consistency,
    check_get_feature_names_out_error,
    check_global_output_transform_pandas,
    check_set_output_transform,
    check_set_output_transform_pandas,
    check_transformer_get_feature_names_out,
    check_transformer_get_feature_names_out_pandas,
    parametrize_with_checks,
)

from {{ cookiecutter.package_name }}.model.features import OutlierClipper


@parametrize_with_checks([OutlierClipper()])  # type: ignore[untyped-decorator]
def test_sklearn_compatible(
    estimator: BaseEstimator, check: Callable[[BaseEstimator], None]
) -> None:
    check(estimator)


# These checks deliberately fit and transform on mixed DataFrame/ndarray input.
@pytest.mark.filterwarnings("ignore:X .*feature names:UserWarning")
@pytest.mark.parametrize(
    "check",
    [
        check_set_output_transform,
        check_set_output_transform_pandas,
        check_global_output_transform_pandas,
        check_dataframe_column_names_consistency,
        check_transformer_get_feature_names_out,
        check_transformer_get_feature_names_out_pandas,
        check_get_feature_names_out_error,
    ],
)
def test_output_and_feature_name_checks(
    check: Callable[[str, BaseEstimator], None],
) -> None:
    check("OutlierClipper", OutlierClipper())


def test_clips_to_learned_quantiles() -> None:
    X_train = np.array([[0.0, 10.0], [1.0, 20.0], [2.0, 30.0], [3.0, 40.0]])
    clipper = OutlierClipper(quantile=0.25).fit(X_train)

    np.testing.assert_allclose(clipper.lower_, [0.75, 17.5])
    np.testing.assert_allclose(clipper.upper_, [2.25, 32.5])
    np.testing.assert_allclose(
        clipper.transform([[-5.0, 25.0], [5.0, 100.0]]),
        [[0.75, 25.0], [2.25, 32.5]],
    )


def test_nan_is_ignored_in_fit_and_preserved_in_transform() -> None:
    X = np.array([[np.nan, 1.0], [0.0, np.nan], [10.0, 3.0]])

    clipper = OutlierClipper(quantile=0.0).fit(X)
    Xt = clipper.transform(X)

    np.testing.assert_allclose(clipper.lower_, [0.0, 1.0])
    np.testing.assert_array_equal(np.isnan(Xt), np.isnan(X))


def test_all_nan_column_is_left_unclipped() -> None:
    X_train = np.array([[np.nan, 0.0], [np.nan, 1.0]])

    clipper = OutlierClipper(quantile=0.0).fit(X_train)

    np.testing.assert_array_equal(clipper.lower_, [-np.inf, 0.0])
    assert clipper.transform([[1e9, 0.5]])[0, 0] == 1e9


def test_fitted_attributes_absent_before_fit() -> None:
    clipper = OutlierClipper()

    assert not hasattr(clipper, "lower_")
    with pytest.raises(NotFittedError):
        clipper.transform([[1.0]])


def test_pandas_output_keeps_column_names() -> None:
    X = pd.DataFrame({"age": [20.0, 30.0, 99.0], "income": [1.0, 2.0, 3.0]})

    Xt = OutlierClipper().set_output(transform="pandas").fit_transform(X)

    assert isinstance(Xt, pd.DataFrame)
    assert list(Xt.columns) == ["age", "income"]
    assert Xt.index.equals(X.index)


def test_invalid_quantile_raises_on_fit() -> None:
    with pytest.raises(ValueError, match="quantile"):
        OutlierClipper(quantile=0.5).fit([[1.0], [2.0]])
