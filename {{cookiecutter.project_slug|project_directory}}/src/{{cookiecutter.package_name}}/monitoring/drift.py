"""Drift statistics: how far a feature's current values moved from the reference.

Numbers are compared by the population stability index (PSI) over the
reference's quantile bins and by the two-sample Kolmogorov-Smirnov test;
categories by the PSI of their shares and a chi-squared test of their counts,
whose effect size is Cramér's V. Missing values are left out of every
statistic here: the change of a column's share of them is watched apart
(:class:`NullRateChange`).

A feature drifts when its PSI reaches ``thresholds.psi``, or when its test is
significant (p below ``thresholds.p_value``) and the shift is large (KS
distance at least ``thresholds.ks_statistic``, Cramér's V at least
``thresholds.cramers_v``): on many rows, a test finds shifts too small to
matter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.stats import chi2_contingency, ks_2samp

from ..config import ThresholdsConfig

PSI_BINS = 10
"""Quantile bins of a numeric reference; ties merge bins, so there may be fewer."""
EPSILON = 1e-4
"""Share given to an empty bin, so that the PSI stays finite."""
UNSEEN = "(unseen)"
"""Bucket of the categories that the reference does not have."""
MIN_CATEGORIES = 2
"""Fewest categories a chi-squared test can compare."""

Kind = Literal["numeric", "categorical"]


@dataclass(frozen=True)
class KSTest:
    """Two-sample Kolmogorov-Smirnov test: the largest gap between the CDFs."""

    statistic: float
    p_value: float
    effect_name: ClassVar[str] = "ks"
    """Name of the effect size in metric names."""

    @property
    def effect(self) -> float:
        """The size of the shift, the KS distance itself."""
        return self.statistic

    def shifted(self, thresholds: ThresholdsConfig) -> bool:
        """Return whether the shift is both significant and large."""
        return (
            self.p_value < thresholds.p_value
            and self.statistic >= thresholds.ks_statistic
        )

    def describe(self) -> str:
        """Return the test's result in words."""
        return f"KS distance {self.statistic:.3f} (p={self.p_value:.2g})"


@dataclass(frozen=True)
class ChiSquaredTest:
    """Chi-squared test of the reference's and current category counts."""

    statistic: float
    p_value: float
    cramers_v: float
    effect_name: ClassVar[str] = "cramers_v"
    """Name of the effect size in metric names."""

    @property
    def effect(self) -> float:
        """The size of the shift, Cramér's V."""
        return self.cramers_v

    def shifted(self, thresholds: ThresholdsConfig) -> bool:
        """Return whether the shift is both significant and large."""
        return (
            self.p_value < thresholds.p_value and self.cramers_v >= thresholds.cramers_v
        )

    def describe(self) -> str:
        """Return the test's result in words."""
        return f"Cramér's V {self.cramers_v:.3f} (chi-squared p={self.p_value:.2g})"


@dataclass(frozen=True)
class FeatureDrift:
    """How far one column (a feature, or the predictions) moved from the reference."""

    feature: str
    kind: Kind
    psi: float
    test: KSTest | ChiSquaredTest
    reference_values: int
    current_values: int

    def drifted(self, thresholds: ThresholdsConfig) -> bool:
        """Return whether the column crossed a drift threshold."""
        return self.psi >= thresholds.psi or self.test.shifted(thresholds)

    def describe(self) -> str:
        """Return the statistics in words, for an alert line."""
        return f"PSI {self.psi:.3f}, {self.test.describe()}"


@dataclass(frozen=True)
class NullRateChange:
    """A column's share of missing values at training and now."""

    column: str
    reference_rate: float
    current_rate: float

    @property
    def increase(self) -> float:
        """How much the share of missing values rose (negative when it fell)."""
        return self.current_rate - self.reference_rate

    def alarming(self, thresholds: ThresholdsConfig) -> bool:
        """Return whether the rise reaches ``thresholds.null_rate_increase``."""
        return self.increase >= thresholds.null_rate_increase

    def describe(self) -> str:
        """Return the change in words, for an alert line."""
        return (
            f"missing in {self.current_rate:.1%} of rows against"
            f" {self.reference_rate:.1%} at training"
        )


def quantile_edges(
    reference: NDArray[np.float64], bins: int = PSI_BINS
) -> NDArray[np.float64]:
    """Return the inner edges of ``bins`` quantile bins of ``reference``.

    Tied quantiles give one edge, so a column with few distinct values gets
    fewer bins; the outer bins are open, so no current value falls outside.

    Examples
    --------
    >>> quantile_edges(np.array([1.0, 2.0, 3.0, 4.0]), bins=2)
    array([2.5])
    >>> quantile_edges(np.array([0.0, 0.0, 0.0, 1.0]), bins=4)
    array([0.  , 0.25])
    """
    quantiles = np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1])
    return np.unique(quantiles)


def bin_counts(
    values: NDArray[np.float64], edges: NDArray[np.float64]
) -> NDArray[np.int64]:
    """Return how many of ``values`` fall in each bin between ``edges``.

    A value equal to an edge counts in the bin above it.

    Examples
    --------
    >>> bin_counts(np.array([0.0, 2.5, 3.0, 9.0]), np.array([2.5]))
    array([1, 3])
    """
    positions = np.searchsorted(edges, values, side="right")
    return np.bincount(positions, minlength=len(edges) + 1).astype(np.int64)


def category_counts(values: pd.Series, categories: list[str]) -> NDArray[np.int64]:
    """Return the count of each of ``categories`` in ``values``, then of all others.

    Examples
    --------
    >>> category_counts(pd.Series(["a", "b", "a", "z"]), ["a", "b"])
    array([2, 1, 1])
    """
    found = values.astype(str).value_counts()
    known = found.reindex(categories, fill_value=0).to_numpy(dtype=np.int64)
    return np.append(known, len(values) - known.sum())


def population_stability_index(
    reference_counts: NDArray[np.int64], current_counts: NDArray[np.int64]
) -> float:
    """Return the PSI of two histograms over the same bins.

    ``sum((current - reference) * ln(current / reference))`` over the bins'
    shares; an empty bin's share is :data:`EPSILON`.

    Examples
    --------
    >>> round(population_stability_index(np.array([50, 50]), np.array([25, 75])), 4)
    0.2747
    """
    reference = np.maximum(reference_counts / reference_counts.sum(), EPSILON)
    current = np.maximum(current_counts / current_counts.sum(), EPSILON)
    return float(np.sum((current - reference) * np.log(current / reference)))


def ks_test(reference: NDArray[np.float64], current: NDArray[np.float64]) -> KSTest:
    """Return the two-sample Kolmogorov-Smirnov test of both sets of values."""
    result = ks_2samp(reference, current)
    return KSTest(float(result.statistic), float(result.pvalue))


def chi_squared_test(
    reference_counts: NDArray[np.int64], current_counts: NDArray[np.int64]
) -> ChiSquaredTest:
    """Return the chi-squared test of the 2 x k table of both histograms.

    Categories absent from both are left out; with fewer than two left there
    is nothing to test (statistic 0, p-value 1). Pearson's statistic is used
    without Yates' continuity correction.
    """
    table = np.vstack([reference_counts, current_counts])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < MIN_CATEGORIES:
        return ChiSquaredTest(0.0, 1.0, 0.0)
    result = chi2_contingency(table, correction=False)
    statistic = float(result.statistic)
    # min(rows, columns) - 1 is 1 for a table of two rows.
    cramers_v = math.sqrt(statistic / table.sum())
    return ChiSquaredTest(statistic, float(result.pvalue), cramers_v)


def numeric_drift(
    feature: str, reference: pd.Series, current: pd.Series
) -> FeatureDrift | None:
    """Return the drift of a numeric column; ``None`` if either side has no values."""
    reference_values = _present_numbers(reference)
    current_values = _present_numbers(current)
    if not len(reference_values) or not len(current_values):
        return None
    edges = quantile_edges(reference_values)
    psi = population_stability_index(
        bin_counts(reference_values, edges), bin_counts(current_values, edges)
    )
    return FeatureDrift(
        feature,
        "numeric",
        psi,
        ks_test(reference_values, current_values),
        len(reference_values),
        len(current_values),
    )


def categorical_drift(
    feature: str, reference: pd.Series, current: pd.Series
) -> FeatureDrift | None:
    """Return the drift of a categorical column; ``None`` if a side has no values.

    Categories the reference lacks are pooled into one bucket, :data:`UNSEEN`.
    """
    reference_values = reference.dropna().astype(str)
    current_values = current.dropna().astype(str)
    if reference_values.empty or current_values.empty:
        return None
    categories = sorted(reference_values.unique())
    reference_counts = category_counts(reference_values, categories)
    current_counts = category_counts(current_values, categories)
    return FeatureDrift(
        feature,
        "categorical",
        population_stability_index(reference_counts, current_counts),
        chi_squared_test(reference_counts, current_counts),
        len(reference_values),
        len(current_values),
    )


def column_drift(
    feature: str, kind: Kind, reference: pd.Series, current: pd.Series
) -> FeatureDrift | None:
    """Return the drift of ``feature`` measured as ``kind`` requires, if measurable."""
    measure = numeric_drift if kind == "numeric" else categorical_drift
    return measure(feature, reference, current)


def _present_numbers(values: pd.Series) -> NDArray[np.float64]:
    """Return the values that read as numbers, without the missing ones."""
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
    present: NDArray[np.float64] = numbers[~np.isnan(numbers)]
    return present
