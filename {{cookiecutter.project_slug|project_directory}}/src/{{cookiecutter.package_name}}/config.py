"""The project's one typed configuration: a YAML file plus environment overrides.

Every setting lives in ``config.yaml``. Any of them can be overridden by an
environment variable named after its path, e.g.
``{{ cookiecutter.package_name | upper }}_SEED=7`` or
``{{ cookiecutter.package_name | upper }}_MODEL__MAX_ITER=300``
(nested keys are joined by a double underscore).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from .errors import ConfigError, hide_credentials

ENV_PREFIX = "{{ cookiecutter.package_name | upper }}_"
DEFAULT_CONFIG_PATH = Path("config.yaml")


class _Section(BaseModel):
    """A configuration section: immutable, and unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(_Section):
    """Where the training data is and which columns play which role."""

    path: Path = Field(description="CSV or Parquet file, relative to the config.")
    target: str = Field(min_length=1, description="Column to predict.")
    numeric_features: list[str] = Field(default_factory=list)
    categorical_features: list[str] = Field(default_factory=list)
    test_size: float = Field(default=0.2, gt=0, lt=1)
    personal_columns: list[str] = Field(
        default_factory=list,
        description="Columns holding personal data: marked in the data contract"
        " and never written by the project unless write_personal is true.",
    )
    forbidden_features: list[str] = Field(
        default_factory=list,
        description="Columns that must never be features: identifiers, leaks of"
        " the target, attributes that are only audited.",
    )
    write_personal: bool = Field(
        default=False,
        description="Whether the prediction log, reports, logged examples and"
        " kept columns may contain the personal columns.",
    )

    @property
    def features(self) -> list[str]:
        """All feature columns, numeric first, in configuration order."""
        return [*self.numeric_features, *self.categorical_features]

    @property
    def unwritten_columns(self) -> list[str]:
        """Columns no file written by the project may contain."""
        return [] if self.write_personal else list(self.personal_columns)

    @model_validator(mode="after")
    def _check_columns(self) -> DataConfig:
        features = self.features
        if not features:
            raise ValueError("name at least one numeric or categorical feature")
        duplicates = sorted({name for name in features if features.count(name) > 1})
        if duplicates:
            raise ValueError(f"features listed twice: {', '.join(duplicates)}")
        if self.target in features:
            raise ValueError(f"target {self.target!r} is also listed as a feature")
        forbidden = [name for name in features if name in self.forbidden_features]
        if forbidden:
            raise ValueError(
                f"forbidden feature(s) {', '.join(forbidden)}: remove them from the"
                " features or from forbidden_features"
            )
        return self


class PreprocessingConfig(_Section):
    """How features are cleaned before they reach the estimator."""

    clip_quantile: float = Field(
        default=0.01, ge=0, lt=0.5, description="Share of outliers clipped per tail."
    )


class ModelConfig(_Section):
    """Hyperparameters of the estimator, passed to it by name."""

    learning_rate: float = Field(default=0.1, gt=0, le=1)
    max_iter: int = Field(default=100, ge=1)
    max_leaf_nodes: int = Field(default=31, ge=2)
    min_samples_leaf: int = Field(default=20, ge=1)
    l2_regularization: float = Field(default=0.0, ge=0)


class TrackingConfig(_Section):
    """Where MLflow records runs and which registered model they feed."""

    experiment: str = Field(min_length=1)
    registered_model: str = Field(min_length=1)
    uri: str | None = Field(
        default=None,
        description="Tracking URI; unset means MLFLOW_TRACKING_URI or local SQLite.",
    )
    champion_alias: str = Field(default="champion", pattern=r"^[A-Za-z][\w-]*$")
    request_timeout: int | None = Field(
        default=None,
        ge=1,
        description="Seconds to wait for each answer of a tracking server; unset:"
        " MLFLOW_HTTP_REQUEST_TIMEOUT, else a few seconds.",
    )
    request_retries: int | None = Field(
        default=None,
        ge=0,
        le=5,
        description="Retries of a failed request; unset:"
        " MLFLOW_HTTP_REQUEST_MAX_RETRIES, else one.",
    )
    saved_runs: Path = Field(
        default=Path("saved-runs"),
        description="Directory where train saves each run before logging it.",
    )

    @field_validator("uri")
    @classmethod
    def _refuse_credentials(cls, uri: str | None) -> str | None:
        if uri is not None and hide_credentials(uri) != uri:
            raise ValueError(
                "must not contain credentials: set MLFLOW_TRACKING_USERNAME and"
                " MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN) in the"
                " environment instead"
            )
        return uri


class EvaluationConfig(_Section):
    """How a trained model is examined beyond its overall test metrics.

    The slice gate and the feature check decide, with the fairness audit,
    whether a candidate may take the champion alias.
    """

    slice_columns: list[str] | None = Field(
        default=None,
        description="Categorical features whose every value gets its own metrics;"
        " unset: every categorical feature with few enough values.",
    )
    min_slice_rows: int = Field(
        default=10,
        ge=1,
        description="Fewest test rows of a slice for the slice gate to judge it;"
        " smaller slices are reported, not judged, as their scores are noise.",
    )
    min_slice_score: float | None = Field(
        default=None,
        description="Worst primary metric accepted on any slice: a floor for a"
        " score such as F1, a ceiling for an error such as RMSE; unset: none.",
    )
    max_slice_drop: float | None = Field(
        default=None,
        ge=0,
        description="Largest worsening of a slice's primary metric against the"
        " champion's on the same rows, in the metric's units; unset: not checked.",
    )
    importance_repeats: int = Field(
        default=10,
        ge=2,
        description="Times each feature is shuffled to measure its importance.",
    )
    unimportant_features: Literal["warn", "fail"] = Field(
        default="warn",
        description="What train does about a feature whose importance on the"
        " held-out rows is indistinguishable from zero: warn, or fail the gate.",
    )


class FairnessConfig(_Section):
    """Which groups of people (or things) the model must treat alike, and how alike.

    Each column of ``sensitive_features`` splits the held-out rows into
    groups, scored apart; it need not be a feature (an attribute kept only
    for audits is read from the data file too). A limit left unset is
    reported, not enforced.
    """

    sensitive_features: list[str] = Field(
        default_factory=list,
        description="Columns of the data file whose groups are audited.",
    )
    min_group_rows: int = Field(
        default=10,
        ge=1,
        description="Fewest test rows of a group for it to count in the gaps.",
    )
    max_gap: float | None = Field(
        default=None,
        ge=0,
        description="Largest difference of the primary metric between two groups"
        " of a column, in the metric's units.",
    )
    max_demographic_parity_difference: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Classifiers only: largest difference between groups in the"
        " share of rows predicted as a class.",
    )
    max_equalized_odds_difference: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Classifiers only: largest difference between groups in the"
        " true or false positive rate of a class.",
    )


class SearchRange(_Section):
    """The values ``tune`` tries for one hyperparameter: ``low`` to ``high``."""

    low: float
    high: float
    log: bool = Field(
        default=False, description="Search on a log scale (both bounds above 0)."
    )

    @model_validator(mode="after")
    def _check_bounds(self) -> SearchRange:
        if self.low >= self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError("a log-scale range needs a low above 0")
        return self


class TuningConfig(_Section):
    """The hyperparameter search of ``tune``, on the training rows only."""

    trials: int = Field(default=30, ge=1, description="Settings tried.")
    timeout_seconds: float | None = Field(
        default=None,
        gt=0,
        description="Stop starting new trials after this long; unset: no limit.",
    )
    folds: int = Field(
        default=5, ge=2, description="Cross-validation folds of the training rows."
    )
    search_space: dict[str, SearchRange] = Field(
        default_factory=dict,
        description="The model hyperparameters searched, by name.",
    )

    @field_validator("search_space")
    @classmethod
    def _check_search_space(
        cls, search_space: dict[str, SearchRange]
    ) -> dict[str, SearchRange]:
        for name, bounds in search_space.items():
            field = ModelConfig.model_fields.get(name)
            if field is None:
                known = ", ".join(ModelConfig.model_fields)
                raise ValueError(f"{name!r} is not a model hyperparameter ({known})")
            for bound in (bounds.low, bounds.high):
                _check_model_value(name, bound, integer=field.annotation is int)
        return search_space


def _check_model_value(name: str, value: float, *, integer: bool) -> None:
    """Raise ``ValueError`` unless ``value`` is a valid ``model.<name>``."""
    if integer and not float(value).is_integer():
        raise ValueError(f"{name} takes whole numbers, not {value}")
    try:
        ModelConfig.model_validate({name: int(value) if integer else value})
    except ValidationError as error:
        message = error.errors()[0]["msg"]
        raise ValueError(f"{name} cannot be {value}: {message}") from error


class ContractConfig(_Section):
    """How the data contract is learned at training and enforced on new data."""

    range_margin: float = Field(
        default=0.1,
        ge=0,
        description="Share of each numeric feature's training range accepted"
        " beyond either end of it.",
    )
    null_rate_margin: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="How far above its training null rate a column's null rate"
        " may rise in a table before it breaks the contract.",
    )
    on_break: Literal["score", "reject"] = Field(
        default="score",
        description="What predict and serve do with rows that break a soft rule"
        " (range, category, missing value): score, count and log them, or reject"
        " the request or file.",
    )


class PredictionLogConfig(_Section):
    """Where and how much the scoring service records of what it scores."""

    enabled: bool = True
    directory: Path = Field(
        default=Path("prediction-log"),
        description="Directory of the Parquet files, relative to the config.",
    )
    sample_rate: float = Field(
        default=1.0, gt=0, le=1, description="Share of requests recorded."
    )
    max_bytes: int = Field(
        default=100 * 1024 * 1024,
        ge=1024,
        description="Size cap of the directory; the oldest files go first.",
    )
    rows_per_file: int = Field(
        default=10_000, ge=1, description="Rows buffered before a file is written."
    )
    flush_seconds: float = Field(
        default=60.0, gt=0, description="Longest wait before buffered rows are written."
    )


class ThresholdsConfig(_Section):
    """When ``monitor`` raises an alert; each alert makes it exit non-zero."""

    psi: float = Field(
        default=0.2, gt=0, description="Population stability index of a feature."
    )
    p_value: float = Field(
        default=0.001,
        gt=0,
        lt=1,
        description="Significance level of the Kolmogorov-Smirnov (numbers) and"
        " chi-squared (categories) tests; a significant shift alerts only when it"
        " is also large (ks_statistic, cramers_v).",
    )
    ks_statistic: float = Field(
        default=0.1,
        gt=0,
        le=1,
        description="Kolmogorov-Smirnov distance from which a numeric shift matters.",
    )
    cramers_v: float = Field(
        default=0.1,
        gt=0,
        le=1,
        description="Cramér's V from which a shift of categories matters.",
    )
    null_rate_increase: float = Field(
        default=0.1, gt=0, le=1, description="Rise of a column's share of nulls."
    )
    break_rate: float = Field(
        default=0.01,
        ge=0,
        le=1,
        description="Share of rows breaking the data contract.",
    )
    max_model_age_days: float = Field(
        default=90, gt=0, description="Age of the champion version."
    )
    latency_ratio: float = Field(
        default=3.0,
        gt=1,
        description="Median scoring latency against the one measured at training.",
    )
    metric_drop: float = Field(
        default=0.05,
        gt=0,
        description="Relative drop of the primary metric on labelled live data"
        " against its offline value: 0.05 is 5 % worse.",
    )


class ShadowLogConfig(PredictionLogConfig):
    """Where the service records a challenger's answers next to the champion's."""

    directory: Path = Field(
        default=Path("shadow-log"),
        description="Directory of the Parquet files, relative to the config.",
    )
    agreement_tolerance: float = Field(
        default=0.05,
        ge=0,
        description="Numeric predictions agree when they differ by at most this"
        " share of the champion's; classes agree when they are equal.",
    )


class MonitoringConfig(_Section):
    """The prediction log of the service, and what ``monitor`` alerts on."""

    prediction_log: PredictionLogConfig = PredictionLogConfig()
    shadow_log: ShadowLogConfig = ShadowLogConfig()
    thresholds: ThresholdsConfig = ThresholdsConfig()
    reports: Path = Field(
        default=Path("monitoring-reports"),
        description="Directory where monitor writes its reports, relative to"
        " the config.",
    )


class ServingConfig(_Section):
    """How the scoring service groups concurrent requests into one model call."""

    max_batch_rows: int = Field(
        default=128,
        ge=1,
        description="Most rows scored in one model call; requests are never"
        " split, so a larger request is scored alone. 1 turns batching off.",
    )
    max_batch_wait_ms: float = Field(
        default=2.0,
        ge=0,
        le=1000,
        description="Longest wait, while the service is busy, for more requests"
        " to join a batch; an idle service scores a request at once. 0: no wait.",
    )


class CardConfig(_Section):
    """The prose of the model card that the data cannot tell.

    The prose describes one data file, ``written_for``: while ``data.path``
    names another, the card leaves the prose out rather than claim it.
    """

    written_for: Path | None = Field(
        default=None,
        description="Data file the prose was written for, relative to the config;"
        " unset: the prose holds for any data.",
    )
    intended_use: str = Field(
        default="Not stated yet: say who may use the model, and for what.",
        min_length=1,
    )
    limitations: str = Field(
        default="Not stated yet: say where the model is known to fail.",
        min_length=1,
    )


class Settings(BaseSettings):
    """The whole configuration; build it with :func:`load_config`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    seed: int = Field(default=42, ge=0, description="Seeds splits and models.")
    data: DataConfig
    preprocessing: PreprocessingConfig = PreprocessingConfig()
    model: ModelConfig = ModelConfig()
    tracking: TrackingConfig
    evaluation: EvaluationConfig = EvaluationConfig()
    fairness: FairnessConfig = FairnessConfig()
    tuning: TuningConfig = TuningConfig()
    contract: ContractConfig = ContractConfig()
    monitoring: MonitoringConfig = MonitoringConfig()
    serving: ServingConfig = ServingConfig()
    card: CardConfig = CardConfig()

    @property
    def audit_columns(self) -> list[str]:
        """The sensitive features that are not features, read only for audits."""
        features = self.data.features
        return [c for c in self.fairness.sensitive_features if c not in features]

    @field_validator("evaluation")
    @classmethod
    def _check_slice_columns(
        cls, evaluation: EvaluationConfig, info: ValidationInfo
    ) -> EvaluationConfig:
        data = info.data.get("data")
        if data is None or evaluation.slice_columns is None:
            return evaluation
        unknown = [
            column
            for column in evaluation.slice_columns
            if column not in data.categorical_features
        ]
        if unknown:
            names = ", ".join(unknown)
            raise ValueError(f"slice_columns must be categorical features: {names}")
        return evaluation

    @field_validator("fairness")
    @classmethod
    def _check_sensitive_features(
        cls, fairness: FairnessConfig, info: ValidationInfo
    ) -> FairnessConfig:
        data = info.data.get("data")
        if data is None:
            return fairness
        for column in fairness.sensitive_features:
            if column == data.target:
                raise ValueError(f"sensitive feature {column!r} is the target")
            if column in data.unwritten_columns:
                raise ValueError(
                    f"sensitive feature {column!r} is a personal column: its values"
                    " would be written into metric names"
                )
        return fairness

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Let environment variables override the values read from the file."""
        return env_settings, init_settings


def read_config_file(path: Path) -> dict[str, Any]:
    """Read the YAML mapping at ``path``, raising ``ConfigError`` if unusable."""
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise ConfigError(f"config file not found: {path}") from error
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read config file {path}: {error}") from error
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"config file {path} is not valid YAML{where}") from error
    if not isinstance(content, dict):
        raise ConfigError(f"config file {path} must contain a mapping of settings")
    return content


def describe_validation_error(error: ValidationError) -> str:
    """Summarise the first problem pydantic found as ``key.path: message``."""
    first = error.errors()[0]
    location = ".".join(str(part) for part in first["loc"]) or "config"
    message = (
        str(first["ctx"]["error"]) if first["type"] == "value_error" else first["msg"]
    )
    extra = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return f"{location}: {message}{extra}"


def environment_overrides() -> dict[tuple[str, ...], str]:
    """Return the environment variables that override settings, by key path.

    Names match the way pydantic-settings reads them: the prefix
    ``{{ cookiecutter.package_name | upper }}_`` in any case, then the key path
    joined by ``__``. Variables of the command line (the config file, the log
    format) are not settings and are left out.
    """
    overrides = {}
    for name in os.environ:
        if name.upper().startswith(ENV_PREFIX):
            keys = tuple(name[len(ENV_PREFIX) :].lower().split("__"))
            if keys[0] in Settings.model_fields:
                overrides[keys] = name
    return overrides


def _invalid_source(location: tuple[str, ...], path: Path) -> str:
    """Say where the invalid setting at ``location`` came from, file or environment.

    A variable that sets ``location`` (or a section holding it) is the source;
    otherwise the file is, together with any variable that set a key inside
    the failing section.
    """
    overrides = environment_overrides()
    setting = [
        overrides[keys]
        for keys in sorted(overrides, key=len, reverse=True)
        if location[: len(keys)] == keys
    ]
    if setting:
        return f"invalid value in environment variable {setting[0]}"
    inside = _variables_inside(location, overrides)
    if inside:
        return f"invalid configuration in {path} with environment variable {inside}"
    return f"invalid configuration in {path}"


def _variables_inside(
    location: tuple[str, ...], overrides: dict[tuple[str, ...], str]
) -> str:
    """Return the names of the variables that set keys under ``location``."""
    names = sorted(
        name for keys, name in overrides.items() if keys[: len(location)] == location
    )
    return " and ".join(names)


def _settings(values: dict[str, Any], path: Path) -> Settings:
    """Validate ``values`` read from ``path``, with environment overrides.

    Raises
    ------
    ConfigError
        Naming the environment variable when the bad value came from one,
        else the file.
    """
    try:
        return Settings(**values)
    except ValidationError as error:
        location = tuple(str(part) for part in error.errors()[0]["loc"])
        source = _invalid_source(location, path)
        raise ConfigError(f"{source}: {describe_validation_error(error)}") from error
    except SettingsError as error:
        # Raised only while parsing a list or section given as JSON in a
        # variable; pydantic-settings names the top-level key, not the variable.
        field = re.search(r'field "([^"]+)"', str(error))
        location = (field.group(1),) if field else ()
        names = _variables_inside(location, environment_overrides())
        raise ConfigError(
            f"invalid value in environment variable {names}:"
            " lists and sections must be written as JSON"
        ) from error


def load_config(path: Path = DEFAULT_CONFIG_PATH) -> Settings:
    """Load and validate the configuration at ``path`` with environment overrides.

    Relative paths (``data.path``, ``tracking.saved_runs``,
    ``monitoring.prediction_log.directory``, ``monitoring.shadow_log.directory``,
    ``monitoring.reports``, ``card.written_for``) are resolved against the
    directory of the file, so commands work from any working directory.

    Raises
    ------
    ConfigError
        If the file is missing, not YAML, or any value is invalid; a bad value
        from an environment variable names the variable.
    """
    settings = _settings(read_config_file(path), path)
    data = settings.data.model_copy(update={"path": path.parent / settings.data.path})
    saved_runs = path.parent / settings.tracking.saved_runs
    tracking = settings.tracking.model_copy(update={"saved_runs": saved_runs})
    card = settings.card
    if card.written_for is not None:
        card = card.model_copy(update={"written_for": path.parent / card.written_for})
    return settings.model_copy(
        update={
            "data": data,
            "tracking": tracking,
            "monitoring": _monitoring_paths(settings.monitoring, path.parent),
            "card": card,
        }
    )


def _monitoring_paths(monitoring: MonitoringConfig, base: Path) -> MonitoringConfig:
    """Return ``monitoring`` with its directories resolved against ``base``."""
    log = monitoring.prediction_log
    log = log.model_copy(update={"directory": base / log.directory})
    shadow = monitoring.shadow_log
    shadow = shadow.model_copy(update={"directory": base / shadow.directory})
    return monitoring.model_copy(
        update={
            "prediction_log": log,
            "shadow_log": shadow,
            "reports": base / monitoring.reports,
        }
    )
