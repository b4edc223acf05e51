"""Tuning: search the model's hyperparameters by cross-validation on the training rows.

Optuna's TPE sampler, seeded with ``seed``, proposes values within
``tuning.search_space``; each trial is scored by the primary metric,
cross-validated over ``tuning.folds`` folds of the training rows of the
configured split. The held-out rows are never seen, so they still give an
honest score to the model that ``train`` fits with the values found. Trials
run one after another, so the same configuration and data give the same
trials. Each trial is a nested MLflow run of a parent run tagged
``run.kind=tuning``, which records the best values, their score and the rows
searched. The best values are printed as ``model:`` lines for
``config.yaml``, or written into it with everything else in the file kept
(see :mod:`.model_values`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import mlflow
import numpy as np
import numpy.typing as npt
import optuna
from optuna.trial import TrialState
from pydantic import ValidationError
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score

from ..config import (
    ModelConfig,
    SearchRange,
    Settings,
    TuningConfig,
    describe_validation_error,
)
from ..data import Dataset
from ..errors import ConfigError
from ..evaluation import holdout_split, primary_scorer
from ..model import TASK, build_pipeline
from ..tracking import provenance
from ..tracking.connection import (
    RUN_KIND_TAG,
    connect,
    reported_failures,
    started_run,
)

logger = logging.getLogger(__name__)

RUN_KIND = "tuning"
TRIAL_RUN_KIND = "tuning-trial"
TRIAL_TAG = "tuning.trial"
INPUT_CONTEXT = "tuning"
"""The context of the training rows logged as the parent run's dataset input."""

Params = dict[str, float | int]
Folds = list[tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]]


@dataclass(frozen=True)
class TuningResult:
    """The best hyperparameters a search found, and the run that records it.

    ``best_score`` is the primary metric's mean over the folds, in the
    metric's own sign (an error such as RMSE is positive); ``trials``
    counts the completed trials, and ``interrupted`` says that Ctrl-C
    stopped the search before it ran them all.
    """

    best_params: Params
    best_score: float
    parent_run_id: str
    trials: int
    interrupted: bool = False


def tune(
    settings: Settings, trials: int | None = None, timeout: float | None = None
) -> TuningResult:
    """Search ``tuning.search_space`` for the model's best hyperparameters.

    ``trials`` and ``timeout`` (seconds after which no new trial starts)
    override ``tuning.trials`` and ``tuning.timeout_seconds``. The tracking
    store is checked first, so a server that is down fails before any
    work. On Ctrl-C after at least one completed trial, the search stops
    and the best of the completed trials is returned (and logged).

    Raises
    ------
    ConfigError
        If the search space is empty, an override is invalid, or there are
        more folds than training rows (of the rarest class, for a classifier).
    TrackingError
        If the tracking store cannot be reached or fails.
    """
    config = search_config(settings.tuning, trials, timeout)
    connect(settings.tracking)
    train = holdout_split(settings).train
    folds = cross_validation_folds(train, config.folds, settings.seed)
    quiet_optuna()
    with reported_failures(settings.tracking):
        mlflow.set_experiment(settings.tracking.experiment)
        with started_run() as parent:
            log_search(settings.model_copy(update={"tuning": config}), train)
            study = optuna.create_study(
                direction="maximize" if TASK.GREATER_IS_BETTER else "minimize",
                sampler=optuna.samplers.TPESampler(seed=settings.seed),
            )
            interrupted = run_trials(study, settings, config, train, folds)
            result = best_result(study, parent.info.run_id, interrupted)
            log_best(result)
    return result


def search_config(
    config: TuningConfig, trials: int | None, timeout: float | None
) -> TuningConfig:
    """Return ``config`` with ``trials`` and ``timeout`` in force, validated.

    Raises
    ------
    ConfigError
        If an override is invalid, or the search space is empty.
    """
    overrides = {"trials": trials, "timeout_seconds": timeout}
    values = config.model_dump() | {
        name: value for name, value in overrides.items() if value is not None
    }
    try:
        searched = TuningConfig.model_validate(values)
    except ValidationError as error:
        raise ConfigError(f"tuning.{describe_validation_error(error)}") from error
    if not searched.search_space:
        raise ConfigError(
            "tuning.search_space is empty: name the model hyperparameters to"
            " search, with their low and high bounds"
        )
    return searched


def cross_validation_folds(train: Dataset, folds: int, seed: int) -> Folds:
    """Split the training rows into ``folds`` shuffled folds, seeded by ``seed``.

    The folds are stratified on the labels of ``TASK.stratify_by`` where the
    task has them, so each keeps the class proportions.

    Raises
    ------
    ConfigError
        If there are more folds than rows, or than rows of the rarest class.
    """
    labels = TASK.stratify_by(train.target)
    splitter: KFold | StratifiedKFold
    if labels is None:
        splitter = KFold(folds, shuffle=True, random_state=seed)
        fewest, rows = len(train.target), "training rows"
    else:
        splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
        counts = labels.value_counts()
        fewest, rows = int(counts.min()), f"training rows of class {counts.idxmin()!r}"
    if folds > fewest:
        raise ConfigError(
            f"tuning.folds is {folds}, but there are only {fewest} {rows}:"
            " lower tuning.folds"
        )
    return list(splitter.split(train.features, labels))


def quiet_optuna() -> None:
    """Route Optuna's log records through this project's logging, warnings only.

    Optuna reports every trial at INFO on a handler of its own; the
    progress lines of :func:`score_trial` say the same in this project's
    format.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    optuna.logging.disable_default_handler()
    optuna.logging.enable_propagation()


def log_search(settings: Settings, train: Dataset) -> None:
    """Record what the active parent run searches, and on which rows.

    The provenance tags of a training run, the configuration (as parameters
    and as ``config.yaml``), and the training rows as a dataset input of
    context ``tuning``, whose digest is also the tag ``data.tuning_digest``.
    """
    dataset = provenance.as_mlflow_dataset(settings, train, settings.data.path.name)
    mlflow.set_tags(
        {
            RUN_KIND_TAG: RUN_KIND,
            **provenance.provenance_tags(settings),
            f"data.{INPUT_CONTEXT}_digest": dataset.digest,
        }
    )
    resolved = provenance.resolved_config(settings)
    mlflow.log_params(provenance.flatten(resolved))
    mlflow.log_dict(resolved, provenance.CONFIG_ARTIFACT)
    mlflow.log_input(dataset, context=INPUT_CONTEXT)


def run_trials(
    study: optuna.Study,
    settings: Settings,
    config: TuningConfig,
    train: Dataset,
    folds: Folds,
) -> bool:
    """Run the trials of ``config`` in turn; return whether Ctrl-C stopped them.

    Ctrl-C before any trial completed is not caught: there is nothing to
    report.
    """

    def objective(trial: optuna.Trial) -> float:
        return score_trial(trial, settings, config, train, folds)

    try:
        study.optimize(
            objective, n_trials=config.trials, timeout=config.timeout_seconds, n_jobs=1
        )
    except KeyboardInterrupt:
        if not completed_trials(study):
            raise
        logger.warning("Interrupted: stopping the search")
        return True
    return False


def score_trial(
    trial: optuna.Trial,
    settings: Settings,
    config: TuningConfig,
    train: Dataset,
    folds: Folds,
) -> float:
    """Score the values that ``trial`` proposes; log them as a nested run.

    Returns the mean of the primary metric over ``folds``, in the metric's
    own sign; the nested run records the values as parameters, and the mean
    and standard deviation as ``cv.<metric>.mean`` and ``cv.<metric>.std``.
    """
    params = suggested_params(trial, config.search_space)
    with mlflow.start_run(run_name=f"trial-{trial.number}", nested=True):
        mlflow.set_tags({RUN_KIND_TAG: TRIAL_RUN_KIND, TRIAL_TAG: str(trial.number)})
        mlflow.log_params(params)
        scores = cross_validated_scores(
            with_model_params(settings, params), train, folds
        )
        mlflow.log_metrics(score_metrics(scores))
    mean = float(scores.mean())
    values = ", ".join(f"{name}={value:.4g}" for name, value in params.items())
    logger.info(
        "Trial %d of %d: %s %.4f (std %.4f) with %s",
        trial.number + 1,
        config.trials,
        TASK.PRIMARY_METRIC,
        mean,
        scores.std(),
        values,
    )
    return mean


def suggested_params(
    trial: optuna.Trial, search_space: Mapping[str, SearchRange]
) -> Params:
    """Return the value ``trial`` proposes for each hyperparameter of ``search_space``.

    Hyperparameters that take whole numbers get whole numbers.
    """
    params: Params = {}
    for name, bounds in search_space.items():
        if ModelConfig.model_fields[name].annotation is int:
            params[name] = trial.suggest_int(
                name, int(bounds.low), int(bounds.high), log=bounds.log
            )
        else:
            params[name] = trial.suggest_float(
                name, bounds.low, bounds.high, log=bounds.log
            )
    return params


def with_model_params(settings: Settings, params: Params) -> Settings:
    """Return ``settings`` with the model hyperparameters ``params`` replaced."""
    model = settings.model.model_copy(update=params)
    return settings.model_copy(update={"model": model})


def cross_validated_scores(
    settings: Settings, train: Dataset, folds: Folds
) -> npt.NDArray[np.float64]:
    """Return the primary metric of the configured pipeline on each of ``folds``.

    The scores are in the metric's own sign: an error is positive.
    """
    scores = cross_val_score(
        build_pipeline(settings),
        train.features,
        train.target,
        scoring=primary_scorer(),
        cv=folds,
        n_jobs=1,
    )
    # The scorer negates errors so that greater is better; undo it.
    signed: npt.NDArray[np.float64] = scores if TASK.GREATER_IS_BETTER else -scores
    return signed


def score_metrics(scores: npt.NDArray[np.float64]) -> dict[str, float]:
    """Return the mean and standard deviation of fold ``scores`` as MLflow metrics."""
    metric = TASK.PRIMARY_METRIC
    return {
        f"cv.{metric}.mean": float(scores.mean()),
        f"cv.{metric}.std": float(scores.std()),
    }


def completed_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Return the trials of ``study`` that ran to the end."""
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


def best_result(study: optuna.Study, run_id: str, interrupted: bool) -> TuningResult:
    """Return the best completed trial of ``study`` as a :class:`TuningResult`."""
    best = study.best_trial
    return TuningResult(
        best_params=dict(best.params),
        best_score=float(study.best_value),
        parent_run_id=run_id,
        trials=len(completed_trials(study)),
        interrupted=interrupted,
    )


def log_best(result: TuningResult) -> None:
    """Record the best values and their score on the active parent run.

    The values become the parameters ``best.<name>``, the score the metric
    ``cv.<metric>.mean``.
    """
    mlflow.log_params(
        {f"best.{name}": value for name, value in result.best_params.items()}
    )
    mlflow.log_metric(f"cv.{TASK.PRIMARY_METRIC}.mean", result.best_score)
    mlflow.set_tags(
        {
            "tuning.completed_trials": str(result.trials),
            "tuning.interrupted": str(result.interrupted).lower(),
        }
    )
