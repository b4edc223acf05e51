"""What ``monitor`` found, and which of it crosses a threshold: the alerts.

Each finding is a small record; :func:`find_alerts` applies the thresholds
of ``monitoring.thresholds`` to all of them and returns one
:class:`Alert` per crossing.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import ThresholdsConfig
from ..data.contract import TableCheck
from .drift import FeatureDrift, NullRateChange

MOST_BREAKS_SHOWN = 3
"""Broken rules named in the contract's alert line, those of the most rows first."""


@dataclass(frozen=True)
class Alert:
    """One threshold crossed: which check, on what, and by how much."""

    check: str
    subject: str
    message: str

    def __str__(self) -> str:
        """Return the alert as the one line ``monitor`` prints."""
        return f"{self.check}: {self.subject}: {self.message}"


@dataclass(frozen=True)
class ModelAge:
    """How long ago the monitored registry version was created."""

    version: str
    days: float


@dataclass(frozen=True)
class Latency:
    """Median scoring time of the logged requests against the one at training."""

    median_ms: float
    training_ms: float

    @property
    def ratio(self) -> float:
        """How many times slower than at training scoring is now."""
        return self.median_ms / self.training_ms


@dataclass(frozen=True)
class LiveMetrics:
    """The model's metrics on labelled current rows, next to its offline ones.

    ``offline`` holds the test metrics its training run logged (empty for a
    model outside the registry).
    """

    rows: int
    live: dict[str, float]
    offline: dict[str, float]
    primary: str
    greater_is_better: bool

    @property
    def relative_loss(self) -> float | None:
        """How much worse the primary metric is live, as a share of its offline value.

        ``None`` when there is no offline value to compare with.

        Examples
        --------
        >>> LiveMetrics(9, {"f1": 0.72}, {"f1": 0.9}, "f1", True).relative_loss
        0.2
        """
        offline = self.offline.get(self.primary)
        if not offline:
            return None
        loss = (self.live[self.primary] - offline) / abs(offline)
        return round(-loss if self.greater_is_better else loss, 12)


@dataclass(frozen=True)
class Findings:
    """Everything ``monitor`` measured; a part it could not measure is ``None``."""

    rows: int
    invalid_predictions: int
    drift: list[FeatureDrift]
    prediction_drift: FeatureDrift | None
    null_rates: list[NullRateChange]
    breaks: TableCheck | None
    age: ModelAge | None
    latency: Latency | None
    live: LiveMetrics | None


def find_alerts(findings: Findings, thresholds: ThresholdsConfig) -> list[Alert]:
    """Return one alert per threshold that ``findings`` cross, in report order."""
    alerts = [
        Alert("drift", drift.feature, drift.describe())
        for drift in findings.drift
        if drift.drifted(thresholds)
    ]
    prediction = findings.prediction_drift
    if prediction is not None and prediction.drifted(thresholds):
        alerts.append(
            Alert("prediction drift", prediction.feature, prediction.describe())
        )
    alerts += _stability_alerts(findings)
    alerts += [
        Alert("null rate", change.column, change.describe())
        for change in findings.null_rates
        if change.alarming(thresholds)
    ]
    alerts += _contract_alerts(findings.breaks, thresholds)
    alerts += _age_alerts(findings.age, thresholds)
    alerts += _latency_alerts(findings.latency, thresholds)
    alerts += _metric_alerts(findings.live, thresholds)
    return alerts


def break_rate(breaks: TableCheck) -> float:
    """Return the share of checked rows that break at least one rule."""
    return breaks.broken_rows / breaks.rows if breaks.rows else 0.0


def _stability_alerts(findings: Findings) -> list[Alert]:
    """Alert on any missing or infinite prediction: no threshold makes it sound."""
    if not findings.invalid_predictions:
        return []
    message = (
        f"{findings.invalid_predictions} of {findings.rows} rows have no finite"
        " prediction (missing or infinite)"
    )
    return [Alert("numerical stability", "prediction", message)]


def _contract_alerts(
    breaks: TableCheck | None, thresholds: ThresholdsConfig
) -> list[Alert]:
    if breaks is None or break_rate(breaks) <= thresholds.break_rate:
        return []
    worst = sorted(breaks.breaks, key=lambda found: -found.rows)[:MOST_BREAKS_SHOWN]
    rate = break_rate(breaks)
    message = (
        f"{breaks.broken_rows} of {breaks.rows} rows ({rate:.1%}) break it,"
        f" more than {thresholds.break_rate:.1%}: "
        + "; ".join(found.describe() for found in worst)
    )
    return [Alert("contract", "data contract", message)]


def _age_alerts(age: ModelAge | None, thresholds: ThresholdsConfig) -> list[Alert]:
    if age is None or age.days <= thresholds.max_model_age_days:
        return []
    message = (
        f"created {age.days:.0f} days ago, more than"
        f" {thresholds.max_model_age_days:g}: retrain it"
    )
    return [Alert("model age", f"version {age.version}", message)]


def _latency_alerts(
    latency: Latency | None, thresholds: ThresholdsConfig
) -> list[Alert]:
    if latency is None or latency.ratio < thresholds.latency_ratio:
        return []
    message = (
        f"median {latency.median_ms:.1f} ms per request, {latency.ratio:.1f} times"
        f" the {latency.training_ms:.1f} ms measured at training"
        f" (threshold {thresholds.latency_ratio:g})"
    )
    return [Alert("latency", "scoring", message)]


def _metric_alerts(
    live: LiveMetrics | None, thresholds: ThresholdsConfig
) -> list[Alert]:
    loss = None if live is None else live.relative_loss
    if live is None or loss is None or loss <= thresholds.metric_drop:
        return []
    message = (
        f"{live.live[live.primary]:.4f} on {live.rows} labelled rows against"
        f" {live.offline[live.primary]:.4f} offline, {loss:.1%} worse"
        f" (threshold {thresholds.metric_drop:.1%})"
    )
    return [Alert("live metric", live.primary, message)]
