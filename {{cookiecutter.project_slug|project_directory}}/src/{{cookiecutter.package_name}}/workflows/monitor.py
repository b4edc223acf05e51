"""Monitoring: compare current data with the model's training reference, and alert.

Current data is the scoring service's prediction log (by default) or a table.
It is read a chunk at a time, so memory stays bounded whatever its size:
rows, missing values and contract breaks are counted exactly, while the drift
tests, the latency and the live metrics use uniform samples of at most
100 000 rows (``monitoring.sample.SAMPLE_ROWS``).
The findings go to a report directory and to an MLflow run of the
configured experiment (tag ``run.kind=monitoring``), linked both ways to the
model version.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.pyfunc import PyFuncModel
from mlflow.tracking import MlflowClient

from ..config import Settings, TrackingConfig
from ..data import ColumnDtypes, check_columns, iter_chunks, read_table
from ..data.contract import Contract
from ..errors import DataError, ModelError
from ..model import TASK
from ..monitoring.alerts import (
    Alert,
    Findings,
    Latency,
    LiveMetrics,
    ModelAge,
    break_rate,
    find_alerts,
)
from ..monitoring.drift import FeatureDrift, Kind, NullRateChange, column_drift
from ..monitoring.log_format import (
    LATENCY_MS,
    PREDICTION,
    REQUEST_ID,
    ROW,
    log_files,
    read_log,
)
from ..monitoring.report import safe_name, write_report
from ..monitoring.summary import LABEL, CurrentSummary
from ..tracking.artifacts import (
    LATENCY_KEY,
    load_model,
    model_contract,
    model_metadata,
    model_reference,
    read_dtypes,
)
from ..tracking.connection import (
    RUN_KIND_TAG,
    connect,
    reported_failures,
    started_run,
)
from ..tracking.registry import (
    held_out_metrics,
    registered_version,
    require_champion,
    version_uri,
)
from .predict import predict_frame

logger = logging.getLogger(__name__)

DEFAULT_CHUNK_SIZE = 100_000
RUN_KIND = "monitoring"
MODEL_NAME_TAG = "monitoring.model_name"
MODEL_VERSION_TAG = "monitoring.model_version"
ALERTS_TAG = "monitoring.alerts"
LAST_RUN_TAG = "monitoring.last_run_id"
"""Tag of the model version naming its latest monitoring run."""
REPORT_ARTIFACTS = "report"
_DAY_MS = 86_400_000


@dataclass(frozen=True)
class MonitoredModel:
    """The model whose data is watched, with what training stored beside it.

    ``name`` and ``version`` are ``None`` for a model outside the registry
    (a run or a path), whose age and offline metrics are then unknown.
    """

    uri: str
    name: str | None
    version: str | None
    created_ms: int | None
    offline_metrics: dict[str, float]
    reference: pd.DataFrame
    contract: Contract | None
    metadata: dict[str, Any]


@dataclass(frozen=True)
class MonitoringResult:
    """What ``monitor`` found, the alerts it raised, and where it recorded them."""

    model: MonitoredModel
    source: Path
    findings: Findings
    alerts: list[Alert]
    report: Path
    run_id: str

    def as_dict(self) -> dict[str, Any]:
        """Return the result as plain data, for ``monitor --format json``."""
        findings = dataclasses.asdict(self.findings)
        return {
            "model": {
                "uri": self.model.uri,
                "name": self.model.name,
                "version": self.model.version,
            },
            "source": str(self.source),
            "alerts": [
                dataclasses.asdict(alert) | {"line": str(alert)}
                for alert in self.alerts
            ],
            "findings": findings,
            "report": str(self.report),
            "run_id": self.run_id,
        }


def monitor(
    settings: Settings,
    current: Path | None = None,
    labels: Path | None = None,
    model_uri: str | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> MonitoringResult:
    """Compare current data with the reference of a model; report and log the result.

    Parameters
    ----------
    settings : Settings
        The configuration: thresholds, log and report directories, tracking.
    current : Path, optional
        A CSV/Parquet table, or a directory of prediction-log files; by
        default the configured prediction log.
    labels : Path, optional
        True values of logged rows: a table with ``request_id``, ``row`` and
        the target column. Only with a prediction log; a table's own target
        column gives its labels.
    model_uri : str, optional
        The model to watch; by default the champion.
    chunk_size : int, default 100000
        Rows read at a time.

    Raises
    ------
    DataError
        If there is no current data, or it or the labels are unreadable.
    ModelError
        If the model is unknown or was logged without a reference sample.
    TrackingError
        If the tracking store fails.
    """
    source = current or settings.monitoring.prediction_log.directory
    is_log = source.is_dir()
    _check_source(source, is_log, defaulted=current is None)
    if labels is not None and not is_log:
        raise DataError(
            f"--labels applies to a prediction log; the labels of {source} are its"
            f" {settings.data.target!r} column"
        )
    with reported_failures(settings.tracking):
        client = connect(settings.tracking)
        model = find_model(client, settings.tracking, model_uri)
    summary = _summary(settings, model, is_log)
    chunks = (
        _log_chunks(source, model, chunk_size, labels, settings.data.target)
        if is_log
        else _table_chunks(source, model, chunk_size, settings.data.target)
    )
    for chunk, predictions, truth in chunks:
        summary.add(chunk, predictions, truth)
    if summary.rows == 0:
        raise DataError(f"{source}: no rows to monitor")
    findings = _findings(summary, model, is_log)
    alerts = find_alerts(findings, settings.monitoring.thresholds)
    report = write_report(
        settings.monitoring.reports,
        _about(model, source, summary.rows),
        findings=findings,
        alerts=alerts,
        reference=model.reference,
        current=summary.sample.sample(),
    )
    with reported_failures(settings.tracking):
        run_id = log_monitoring_run(
            client,
            settings,
            model=model,
            findings=findings,
            alerts=alerts,
            report=report,
        )
    return MonitoringResult(model, source, findings, alerts, report, run_id)


def _check_source(source: Path, is_log: bool, defaulted: bool) -> None:
    """Raise ``DataError`` unless ``source`` holds data to monitor."""
    if is_log and log_files(source):
        return
    if source.is_file():
        return
    if defaulted:
        raise DataError(
            f"no prediction log in {source}: the scoring service (serve) writes"
            " it as it scores requests; or pass --current FILE to monitor a table"
        )
    what = "no prediction-log files in" if is_log else "data file not found:"
    raise DataError(f"{what} {source}")


def find_model(
    client: MlflowClient, config: TrackingConfig, model_uri: str | None
) -> MonitoredModel:
    """Return the model at ``model_uri`` (default: the champion) and its extras.

    Raises
    ------
    ModelError
        If the model is unknown or has no reference sample.
    """
    name, version = _registry_version(client, config, model_uri)
    uri = model_uri or version_uri(config, str(version))
    created, metrics = None, {}
    if name is not None and version is not None:
        found = client.get_model_version(name, version)
        created = int(found.creation_timestamp)
        metrics = held_out_metrics(client, found.run_id)
    reference = model_reference(uri)
    if reference is None:
        raise ModelError(
            f"model {uri!r} was logged without a reference sample: train it again"
            " with this version of the project to monitor it"
        )
    return MonitoredModel(
        uri,
        name,
        version,
        created,
        metrics,
        reference,
        model_contract(uri),
        model_metadata(uri),
    )


def _registry_version(
    client: MlflowClient, config: TrackingConfig, model_uri: str | None
) -> tuple[str | None, str | None]:
    """Return the registered model name and version ``model_uri`` names, if any.

    No URI means the champion; runs and paths name no registry version.
    """
    if model_uri is None:
        return config.registered_model, require_champion(
            client, config, ": train one first"
        )
    found = registered_version(client, model_uri)
    return (None, None) if found is None else found


def feature_kinds(reference: pd.DataFrame) -> dict[str, Kind]:
    """Return each feature of ``reference`` (not the prediction) and how it is compared.

    Categorical features are stored as text, numeric ones as numbers.
    """
    return {
        str(name): "numeric" if pd.api.types.is_numeric_dtype(values) else "categorical"
        for name, values in reference.drop(columns=[PREDICTION]).items()
    }


def prediction_kind() -> Kind:
    """Return how predictions are compared: class labels as categories."""
    return "categorical" if TASK.NAME == "classification" else "numeric"


def _summary(settings: Settings, model: MonitoredModel, is_log: bool) -> CurrentSummary:
    """Return an empty summary watching the reference's features."""
    contract = model.contract
    unwritten = set(settings.data.unwritten_columns)
    if contract is not None and unwritten:
        # Personal columns are neither logged nor shown in a report.
        kept = tuple(
            column for column in contract.columns if column.name not in unwritten
        )
        contract = dataclasses.replace(contract, columns=kept)
    extra = (LATENCY_MS, REQUEST_ID) if is_log else ()
    return CurrentSummary(
        feature_kinds(model.reference), contract, settings.seed, extra
    )


def _read_dtypes(model: MonitoredModel) -> ColumnDtypes:
    """Return the dtype each categorical feature and the request ID are read with."""
    kinds = feature_kinds(model.reference)
    text = [name for name, kind in kinds.items() if kind == "categorical"]
    return dict.fromkeys([*text, REQUEST_ID], "object")


Chunk = tuple[pd.DataFrame, pd.Series, pd.Series | None]
"""Rows of current data, their predictions, and their true values if known."""


def _log_chunks(
    directory: Path,
    model: MonitoredModel,
    chunk_size: int,
    labels: Path | None,
    target: str,
) -> Iterator[Chunk]:
    """Yield the prediction log's rows with their logged predictions and labels."""
    truth = None if labels is None else read_labels(labels, target)
    for chunk in read_log(directory, chunk_size, _read_dtypes(model)):
        yield chunk, chunk[PREDICTION], None if truth is None else _join(chunk, truth)


def read_labels(path: Path, target: str) -> pd.Series:
    """Read the true values of logged rows, indexed by request ID and row.

    The table is read whole: labels are far fewer than logged rows, and
    only three of their columns are kept.

    Raises
    ------
    DataError
        If the table is unreadable or lacks ``request_id``, ``row`` or ``target``.
    """
    table = read_table(path, {REQUEST_ID: "object"})
    check_columns(table, [REQUEST_ID, ROW, target], path)
    keys = [table[REQUEST_ID].astype(str), pd.to_numeric(table[ROW], errors="coerce")]
    labels = pd.Series(table[target].to_numpy(), index=pd.MultiIndex.from_arrays(keys))
    return labels[~labels.index.duplicated(keep="last")]


def _join(chunk: pd.DataFrame, labels: pd.Series) -> pd.Series:
    """Return the label of each row of ``chunk``, missing where there is none."""
    keys = pd.MultiIndex.from_arrays(
        [chunk[REQUEST_ID].astype(str), pd.to_numeric(chunk[ROW], errors="coerce")]
    )
    return pd.Series(labels.reindex(keys).to_numpy(), index=chunk.index)


def _table_chunks(
    path: Path, model: MonitoredModel, chunk_size: int, target: str
) -> Iterator[Chunk]:
    """Yield the rows of a table with the model's predictions and its own labels."""
    pyfunc: PyFuncModel = load_model(model.uri)
    dtypes = {**_read_dtypes(model), **read_dtypes(pyfunc)}
    for chunk in iter_chunks(path, chunk_size, dtypes):
        predictions = pd.Series(predict_frame(pyfunc, chunk, path), index=chunk.index)
        yield chunk, predictions, chunk.get(target)


def _findings(summary: CurrentSummary, model: MonitoredModel, is_log: bool) -> Findings:
    """Measure everything ``summary`` allows against the model's reference."""
    current = summary.sample.sample()
    reference = model.reference
    drift = [
        column_drift(name, kind, reference[name], current[name])
        for name, kind in summary.kinds.items()
    ]
    prediction = column_drift(
        PREDICTION, prediction_kind(), reference[PREDICTION], current[PREDICTION]
    )
    return Findings(
        rows=summary.rows,
        invalid_predictions=summary.invalid_predictions,
        drift=[found for found in drift if found is not None],
        prediction_drift=prediction,
        null_rates=_null_rates(summary, model),
        breaks=summary.breaks(),
        age=_age(model),
        latency=_latency(current, model) if is_log else None,
        live=_live_metrics(summary, model),
    )


def _null_rates(summary: CurrentSummary, model: MonitoredModel) -> list[NullRateChange]:
    """Compare each feature's share of missing values with the one at training.

    The training share comes from the contract, learned on every training
    row, or else from the reference sample.
    """
    learned = (
        {}
        if model.contract is None
        else {c.name: c.null_rate for c in model.contract.columns}
    )
    return [
        NullRateChange(
            name, learned.get(name, float(model.reference[name].isna().mean())), rate
        )
        for name, rate in summary.null_rates().items()
    ]


def _age(model: MonitoredModel) -> ModelAge | None:
    if model.version is None or model.created_ms is None:
        return None
    return ModelAge(model.version, (time.time() * 1000 - model.created_ms) / _DAY_MS)


def _latency(current: pd.DataFrame, model: MonitoredModel) -> Latency | None:
    """Return the median latency per logged request against the training one."""
    training = model.metadata.get(LATENCY_KEY)
    if training is None or LATENCY_MS not in current:
        return None
    requests = current.drop_duplicates(REQUEST_ID)[LATENCY_MS]
    median = float(np.nanmedian(pd.to_numeric(requests, errors="coerce")))
    return Latency(median, float(training))


def _live_metrics(summary: CurrentSummary, model: MonitoredModel) -> LiveMetrics | None:
    """Score the sampled labelled rows' predictions, if there are any."""
    pairs = summary.labelled.sample()
    if pairs.empty:
        return None
    if prediction_kind() == "categorical":
        truth, predicted = pairs[LABEL].astype(str), pairs[PREDICTION].astype(str)
    else:
        truth = pd.to_numeric(pairs[LABEL], errors="coerce")
        predicted = pd.to_numeric(pairs[PREDICTION], errors="coerce")
    live = TASK.compute_metrics(truth, predicted)
    return LiveMetrics(
        len(pairs),
        live,
        model.offline_metrics,
        TASK.PRIMARY_METRIC,
        TASK.GREATER_IS_BETTER,
    )


def _about(model: MonitoredModel, source: Path, rows: int) -> dict[str, str]:
    version = "-" if model.version is None else f"{model.name} version {model.version}"
    return {
        "model": model.uri,
        "registry version": version,
        "current data": str(source),
        "rows": str(rows),
    }


def monitoring_metrics(findings: Findings, alerts: list[Alert]) -> dict[str, float]:
    """Return the findings as MLflow metrics, e.g. ``drift.psi.<feature>``."""
    metrics: dict[str, float] = {
        "rows": findings.rows,
        "alerts": len(alerts),
        "predictions.invalid": findings.invalid_predictions,
    }
    for drift in [*findings.drift, *filter(None, [findings.prediction_drift])]:
        metrics |= _drift_metrics(drift)
    for change in findings.null_rates:
        metrics[f"null_rate.{safe_name(change.column)}"] = change.current_rate
    if findings.breaks is not None:
        metrics["contract.break_rate"] = break_rate(findings.breaks)
    if findings.age is not None:
        metrics["model.age_days"] = findings.age.days
    if findings.latency is not None:
        metrics["latency.median_ms"] = findings.latency.median_ms
        metrics["latency.ratio"] = findings.latency.ratio
    if findings.live is not None:
        metrics |= {f"live.{name}": value for name, value in findings.live.live.items()}
    return metrics


def _drift_metrics(drift: FeatureDrift) -> dict[str, float]:
    name = safe_name(drift.feature)
    return {
        f"drift.psi.{name}": drift.psi,
        f"drift.{drift.test.effect_name}.{name}": drift.test.effect,
        f"drift.p_value.{name}": drift.test.p_value,
    }


def log_monitoring_run(
    client: MlflowClient,
    settings: Settings,
    *,
    model: MonitoredModel,
    findings: Findings,
    alerts: list[Alert],
    report: Path,
) -> str:
    """Log the findings as a monitoring run; tag the model version with its ID."""
    mlflow.set_experiment(settings.tracking.experiment)
    with started_run() as run:
        mlflow.set_tags(
            {
                RUN_KIND_TAG: RUN_KIND,
                MODEL_NAME_TAG: model.name or model.uri,
                MODEL_VERSION_TAG: model.version or "-",
                ALERTS_TAG: str(len(alerts)),
            }
        )
        mlflow.log_metrics(monitoring_metrics(findings, alerts))
        mlflow.log_artifacts(str(report), REPORT_ARTIFACTS)
        run_id = str(run.info.run_id)
    if model.name is not None and model.version is not None:
        client.set_model_version_tag(model.name, model.version, LAST_RUN_TAG, run_id)
    logger.info("Logged monitoring run %s", run_id)
    return run_id
