"""Drift statistics, the drift rule, the reservoir sample and the reference sample."""

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from {{ cookiecutter.package_name }}.config import (
    Settings,
    ThresholdsConfig,
)
from {{ cookiecutter.package_name }}.data import Split
from {{ cookiecutter.package_name }}.model import TASK
from {{ cookiecutter.package_name }}.monitoring.alerts import (
    Findings,
    Latency,
    LiveMetrics,
    ModelAge,
    find_alerts,
)
from {{ cookiecutter.package_name }}.monitoring.drift import (
    EPSILON,
    ChiSquaredTest,
    FeatureDrift,
    Kind,
    KSTest,
    NullRateChange,
    bin_counts,
    categorical_drift,
    chi_squared_test,
    column_drift,
    ks_test,
    numeric_drift,
    population_stability_index,
    quantile_edges,
)
from {{ cookiecutter.package_name }}.monitoring.log_format import PREDICTION
from {{ cookiecutter.package_name }}.monitoring.reference import (
    REFERENCE_ROWS,
    build_reference,
)
from {{ cookiecutter.package_name }}.monitoring.sample import Reservoir
from {{ cookiecutter.package_name }}.workflows.monitor import (
    feature_kinds,
    prediction_kind,
)

THRESHOLDS = ThresholdsConfig()
RESAMPLES = 20


def test_psi_of_two_histograms_matches_the_formula() -> None:
    expected = (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.75 - 0.5) * math.log(1.5)

    psi = population_stability_index(np.array([50, 50]), np.array([25, 75]))

    assert psi == pytest.approx(expected)


def test_psi_gives_an_empty_bin_a_small_share() -> None:
    expected = (0.5 - 1) * math.log(0.5) + (0.5 - EPSILON) * math.log(0.5 / EPSILON)

    psi = population_stability_index(np.array([10, 0]), np.array([5, 5]))

    assert psi == pytest.approx(expected)


def test_quantile_bins_merge_ties_and_leave_no_value_outside() -> None:
    reference = np.array([0.0] * 8 + [1.0, 2.0])

    edges = quantile_edges(reference, bins=10)
    counts = bin_counts(np.array([-5.0, 0.0, 0.5, 1.0, 99.0]), edges)

    assert len(edges) < 9
    assert counts.sum() == 5
    assert counts[0] == 1  # only -5 lies below the first edge


def test_identical_values_do_not_drift() -> None:
    values = pd.Series(np.linspace(0, 1, 200))

    drift = numeric_drift("x", values, values)

    assert drift is not None
    assert drift.psi == pytest.approx(0.0)
    assert drift.test.statistic == 0.0
    assert not drift.drifted(THRESHOLDS)


def test_ks_distance_is_the_largest_gap_between_the_cdfs() -> None:
    result = ks_test(np.array([1.0, 2.0, 3.0, 4.0]), np.array([3.0, 4.0, 5.0, 6.0]))

    # Below 3 the reference CDF reaches 0.5 while the current one is still 0.
    assert result.statistic == pytest.approx(0.5)
    assert 0 < result.p_value <= 1


def test_chi_squared_and_cramers_v_match_the_hand_computed_values() -> None:
    # Expected count 20 in every cell: chi2 = 4 * 10**2 / 20 = 20 on 80 rows.
    result = chi_squared_test(np.array([30, 10]), np.array([10, 30]))

    assert result.statistic == pytest.approx(20.0)
    assert result.cramers_v == pytest.approx(math.sqrt(20 / 80))
    # One degree of freedom: the survival function is erfc(sqrt(chi2 / 2)).
    assert result.p_value == pytest.approx(math.erfc(math.sqrt(10)))


def test_unseen_categories_are_pooled_into_one_bucket() -> None:
    reference = pd.Series(["a", "a", "b", "b"])
    current = pd.Series(["a", "b", "c", "d", None])

    drift = categorical_drift("letter", reference, current)

    # Table [[2, 2, 0], [1, 1, 2]]: row sums 4, col sums 3, 3, 2 on 8 values.
    expected_chi2 = 4 * 0.5**2 / 1.5 + 2 * 1.0**2 / 1.0
    assert drift is not None
    assert drift.current_values == 4  # the missing value is left out
    assert isinstance(drift.test, ChiSquaredTest)
    assert drift.test.statistic == pytest.approx(expected_chi2)
    assert drift.test.cramers_v == pytest.approx(math.sqrt(expected_chi2 / 8))


def test_a_single_category_on_both_sides_has_nothing_to_test() -> None:
    result = chi_squared_test(np.array([5, 0]), np.array([7, 0]))

    assert result == ChiSquaredTest(0.0, 1.0, 0.0)


def test_a_column_without_values_is_not_measured() -> None:
    empty = pd.Series([np.nan, np.nan])

    assert numeric_drift("x", pd.Series([1.0, 2.0]), empty) is None
    assert categorical_drift("c", empty, pd.Series(["a"])) is None


@pytest.mark.parametrize(
    ("psi", "test", "drifted"),
    [
        (0.25, KSTest(0.01, 0.9), True),  # large PSI alone
        (0.05, KSTest(0.15, 1e-6), True),  # significant and large
        (0.05, KSTest(0.05, 1e-9), False),  # significant but small
        (0.05, KSTest(0.3, 0.01), False),  # large but not significant
        (0.05, ChiSquaredTest(50.0, 1e-6, 0.2), True),
        (0.05, ChiSquaredTest(50.0, 1e-6, 0.05), False),
    ],
)
def test_drift_rule(psi: float, test: KSTest | ChiSquaredTest, drifted: bool) -> None:
    kind: Kind = "numeric" if isinstance(test, KSTest) else "categorical"
    drift = FeatureDrift("x", kind, psi, test, 100, 100)

    assert drift.drifted(THRESHOLDS) is drifted


def test_null_rate_rise_alarms_from_the_threshold() -> None:
    assert NullRateChange("x", 0.02, 0.15).alarming(THRESHOLDS)
    assert not NullRateChange("x", 0.02, 0.1).alarming(THRESHOLDS)
    assert not NullRateChange("x", 0.5, 0.0).alarming(THRESHOLDS)


def findings(**parts: object) -> Findings:
    empty: dict[str, object] = {
        "rows": 10,
        "invalid_predictions": 0,
        "drift": [],
        "prediction_drift": None,
        "null_rates": [],
        "breaks": None,
        "age": None,
        "latency": None,
        "live": None,
    }
    return Findings(**(empty | parts))  # type: ignore[arg-type]


def test_nothing_measured_raises_no_alert() -> None:
    assert find_alerts(findings(), THRESHOLDS) == []


@pytest.mark.parametrize(
    ("part", "check"),
    [
        ({"invalid_predictions": 1}, "numerical stability"),
        ({"age": ModelAge("3", 120.0)}, "model age"),
        ({"latency": Latency(40.0, 10.0)}, "latency"),
        ({"live": LiveMetrics(50, {"m": 0.8}, {"m": 0.9}, "m", True)}, "live metric"),
        (
            {"live": LiveMetrics(50, {"m": 12.0}, {"m": 10.0}, "m", False)},
            "live metric",
        ),
    ],
)
def test_each_threshold_raises_its_alert(part: dict[str, object], check: str) -> None:
    alerts = find_alerts(findings(**part), THRESHOLDS)

    assert [alert.check for alert in alerts] == [check]


@pytest.mark.parametrize(
    "part",
    [
        {"age": ModelAge("3", 10.0)},
        {"latency": Latency(20.0, 10.0)},
        {"live": LiveMetrics(50, {"m": 0.88}, {"m": 0.9}, "m", True)},
        {"live": LiveMetrics(50, {"m": 0.5}, {}, "m", True)},  # nothing to compare
    ],
)
def test_values_within_the_thresholds_raise_no_alert(part: dict[str, object]) -> None:
    assert find_alerts(findings(**part), THRESHOLDS) == []


def test_reservoir_keeps_every_row_up_to_its_capacity() -> None:
    reservoir = Reservoir(capacity=100, seed=0)
    frame = pd.DataFrame({"x": np.arange(60.0), "c": ["a", "b"] * 30})

    reservoir.add(frame.iloc[:25])
    reservoir.add(frame.iloc[25:])

    pd.testing.assert_frame_equal(reservoir.sample(), frame)


def test_reservoir_samples_every_row_alike() -> None:
    rows, capacity = 20_000, 2_000
    reservoir = Reservoir(capacity=capacity, seed=3)

    for start in range(0, rows, 1_500):
        reservoir.add(pd.DataFrame({"x": np.arange(start, min(start + 1_500, rows))}))

    sample = reservoir.sample()["x"].to_numpy()
    assert reservoir.seen == rows
    assert len(sample) == capacity == len(set(sample))
    # Each tenth of the stream should hold about a tenth of the sample.
    shares = np.bincount(sample * 10 // rows, minlength=10) / capacity
    assert np.all(np.abs(shares - 0.1) < 0.03)


def test_reference_is_a_seeded_sample_with_predictions() -> None:
    features = pd.DataFrame({"x": np.arange(REFERENCE_ROWS + 100.0)})
    predictions = features["x"] * 2

    reference = build_reference(features, predictions, seed=1)

    assert len(reference) == REFERENCE_ROWS
    assert reference[PREDICTION].tolist() == (reference["x"] * 2).tolist()
    assert reference["x"].is_monotonic_increasing
    pd.testing.assert_frame_equal(reference, build_reference(features, predictions, 1))


def test_reference_refuses_predictions_of_other_rows() -> None:
    with pytest.raises(ValueError, match="3 predictions for 2 rows"):
        build_reference(pd.DataFrame({"x": [1.0, 2.0]}), [1, 2, 3], seed=0)


@pytest.fixture(scope="module")
def reference(fitted_pipeline: Pipeline, split: Split) -> pd.DataFrame:
    features = split.train.features
    return build_reference(features, fitted_pipeline.predict(features), seed=0)


def drifted_columns(
    reference: pd.DataFrame, current: pd.DataFrame, pipeline: Pipeline
) -> list[str]:
    """Return the features, and ``prediction``, that drift in ``current``."""
    current = current.assign(**{PREDICTION: pipeline.predict(current)})
    kinds = feature_kinds(reference) | {PREDICTION: prediction_kind()}
    drifts = [
        column_drift(name, kind, reference[name], current[name])
        for name, kind in kinds.items()
    ]
    return [drift.feature for drift in drifts if drift and drift.drifted(THRESHOLDS)]


def test_resamples_of_the_data_raise_at_most_one_false_alarm_in_twenty(
    reference: pd.DataFrame,
    fitted_pipeline: Pipeline,
    demo_frame: pd.DataFrame,
    settings: Settings,
) -> None:
    features = demo_frame[settings.data.features]
    rng = np.random.default_rng(2024)

    alarms = [
        drifted_columns(
            reference,
            features.sample(frac=1.0, replace=True, random_state=rng),
            fitted_pipeline,
        )
        for _ in range(RESAMPLES)
    ]

    assert sum(bool(found) for found in alarms) <= 1, alarms


def test_a_shifted_number_and_changed_category_shares_drift(
    reference: pd.DataFrame,
    fitted_pipeline: Pipeline,
    demo_frame: pd.DataFrame,
    settings: Settings,
) -> None:
    features = demo_frame[settings.data.features].copy()
    number = "bill_length_mm"
    features[number] += 1.5 * features[number].std()
    # Nine rows in ten now come from one island.
    features.loc[features.index % 10 != 0, "island"] = "Torgersen"

    found = drifted_columns(reference, features, fitted_pipeline)

    assert {number, "island"} <= set(found)


def test_predictions_are_compared_as_the_task_needs() -> None:
    expected = "categorical" if TASK.NAME == "classification" else "numeric"

    assert prediction_kind() == expected
