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
``config.yaml``, or written into it with everything else in the file kept.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import numpy.typing as npt
import optuna
import yaml
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
from ..errors import ConfigError, ProjectError
from ..evaluation import holdout_split, primary_scorer
from ..files import write_text_atomically
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
MODEL_SECTION = "model"

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


def yaml_number(value: float) -> str:
    """Return ``value`` written so that YAML reads it back as the same number.

    YAML needs a dot in a float's mantissa: ``1e-06`` would be a string.

    Examples
    --------
    >>> yaml_number(1e-06), yaml_number(0.05), yaml_number(120)
    ('1.0e-06', '0.05', '120')
    """
    if isinstance(value, int):
        return str(value)
    text = repr(float(value))
    mantissa, exponent_mark, exponent = text.partition("e")
    if exponent_mark and "." not in mantissa:
        text = f"{mantissa}.0e{exponent}"
    return text


def best_params_yaml(params: Mapping[str, float]) -> str:
    """Return the ``model:`` lines that set ``params``, to paste into config.yaml.

    Examples
    --------
    >>> print(best_params_yaml({"learning_rate": 0.05, "max_iter": 120}), end="")
    model:
      learning_rate: 0.05
      max_iter: 120
    """
    lines = [f"{MODEL_SECTION}:"]
    lines += [f"  {name}: {yaml_number(value)}" for name, value in params.items()]
    return "\n".join(lines) + "\n"


_SECTION_HEADER = re.compile(
    rf"^{MODEL_SECTION}[ \t]*:[ \t]*(?P<value>[^\s#][^#]*)?(?:#.*)?$"
)
_KEY_LINE = re.compile(
    r"^(?P<head>(?P<indent>[ ]+)(?P<key>[A-Za-z_]\w*)[ \t]*:[ \t]*)"
    r"(?P<value>[^\s#]+(?:[ \t]+[^\s#]+)*)?(?P<tail>[ \t]*(?:#.*)?)$"
)


def with_model_values(text: str, params: Mapping[str, float], source: Path) -> str:
    """Return the YAML ``text`` with the values ``params`` in its ``model:`` section.

    Only the value of each key changes: comments, spacing, line endings and
    every other line stay as they were. A key the section lacks is added
    after its last key; a missing section is added at the end.

    Raises
    ------
    ConfigError
        Naming ``source``, if the section is not one ``key: number`` per
        line, or the result would not read as ``text`` with these values.
    """
    lines = text.splitlines(keepends=True)
    header = next(
        (
            number
            for number, line in enumerate(lines)
            if _SECTION_HEADER.match(line.rstrip("\r\n"))
        ),
        None,
    )
    if header is None:
        newline = "\r\n" if "\r\n" in text else "\n"
        separator = newline if text and not text.endswith("\n") else ""
        updated = text + separator + best_params_yaml(params).replace("\n", newline)
    else:
        updated = "".join(_with_section_values(lines, header, params, source))
    _check_rewrite(text, updated, params, source)
    return updated


def _with_section_values(
    lines: list[str], header: int, params: Mapping[str, float], source: Path
) -> list[str]:
    """Return ``lines`` with ``params`` set in the section headed by line ``header``."""
    section = _SECTION_HEADER.match(lines[header].rstrip("\r\n"))
    if section is not None and section["value"]:
        raise ConfigError(
            f"cannot write the model values into {source}: write its model section"
            " as one `key: value` per line"
        )
    keys = _section_keys(lines, header)
    indent = next((match["indent"] for match in keys.values()), "  ")
    newline = lines[header][len(lines[header].rstrip("\r\n")) :] or "\n"
    updated = list(lines)
    added = []
    for name, value in params.items():
        found = [number for number, match in keys.items() if match["key"] == name]
        if len(found) > 1:
            raise ConfigError(f"model.{name} is set twice in {source}: keep one")
        if found:
            line = found[0]
            updated[line] = _with_value(lines[line], keys[line], value, source)
        else:
            added.append(f"{indent}{name}: {yaml_number(value)}{newline}")
    last_key = max(keys, default=header)
    if added and not updated[last_key].endswith(("\n", "\r")):
        updated[last_key] += newline
    updated[last_key + 1 : last_key + 1] = added
    return updated


def _section_keys(lines: list[str], header: int) -> dict[int, re.Match[str]]:
    """Return the key lines of the section headed by line ``header``, by number.

    The section ends before the first line that is neither blank nor indented.
    """
    keys = {}
    for number in range(header + 1, len(lines)):
        line = lines[number]
        if line.strip() and not line[0].isspace():
            break
        if match := _KEY_LINE.match(line.rstrip("\r\n")):
            keys[number] = match
    return keys


def _with_value(line: str, key: re.Match[str], value: float, source: Path) -> str:
    """Return the key ``line`` (matched as ``key``) with its value replaced.

    Raises
    ------
    ConfigError
        If the line does not hold a plain number: only numbers are replaced.
    """
    if key["value"] is None or not _is_number(key["value"]):
        raise ConfigError(
            f"cannot write model.{key['key']} into {source}: its value is not a"
            " plain number on the same line"
        )
    ending = line[len(line.rstrip("\r\n")) :]
    return f"{key['head']}{yaml_number(value)}{key['tail']}{ending}"


def _is_number(text: str) -> bool:
    """Return whether YAML reads ``text`` as an int or a float (not a boolean)."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return False
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_rewrite(
    before: str, after: str, params: Mapping[str, float], source: Path
) -> None:
    """Raise unless ``after`` reads as ``before`` with the model values ``params``."""
    expected = _yaml_value(before)
    if not isinstance(expected, dict):
        raise ConfigError(f"{source} does not hold a mapping of settings")
    section = expected.get(MODEL_SECTION) or {}
    if not isinstance(section, dict):
        raise ConfigError(f"the model section of {source} is not a mapping")
    expected[MODEL_SECTION] = section | dict(params)
    if _yaml_value(after) != expected:
        raise ConfigError(
            f"cannot write the model values into {source} safely: paste them by hand"
        )


def _yaml_value(text: str) -> object:
    """Return what YAML reads in ``text``: ``{}`` if nothing, ``None`` if invalid."""
    try:
        return yaml.safe_load(text) or {}
    except yaml.YAMLError:
        return None


def read_config_text(config_path: Path) -> str:
    """Return the text of ``config_path`` exactly as stored, line endings included.

    Raises
    ------
    ConfigError
        If the file cannot be read as UTF-8 text.
    """
    try:
        return config_path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read config file {config_path}: {error}") from error


def check_writable(config_path: Path, search_space: Mapping[str, SearchRange]) -> None:
    """Raise now if the values of ``search_space`` could not be written later.

    Called before a search, so that ``tune --write`` fails at once rather
    than after its trials.

    Raises
    ------
    ConfigError
        If :func:`with_model_values` would refuse ``config_path``.
    """
    placeholders = {name: bounds.low for name, bounds in search_space.items()}
    with_model_values(read_config_text(config_path), placeholders, config_path)


def write_best_params(config_path: Path, params: Mapping[str, float]) -> None:
    """Write ``params`` into the ``model:`` section of the YAML file ``config_path``.

    The file is replaced atomically; only the values change (see
    :func:`with_model_values`).

    Raises
    ------
    ConfigError
        If the file cannot be read, rewritten safely, or written; it is then
        left as it was.
    """
    updated = with_model_values(read_config_text(config_path), params, config_path)
    try:
        write_text_atomically(config_path, updated)
    except ProjectError as error:
        raise ConfigError(str(error)) from error
