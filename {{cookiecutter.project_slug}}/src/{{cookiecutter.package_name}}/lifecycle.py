"""The model lifecycle in the registry: which version is champion, and moves.

The champion alias moves in three ways: the training gate (a better
candidate), :func:`promote` (a person's choice of version) and
:func:`rollback` (undo the last move). Every promotion records on the version
it promotes, as the tag ``<alias>.previous``, which version held the alias
before it, so a rollback always knows where to go, and repeated rollbacks walk
back along the chain.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from mlflow.entities.model_registry import ModelVersion, RegisteredModel
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from . import {{ cookiecutter.task }} as task
from . import tracking
from .config import TrackingConfig
from .errors import ModelError

logger = logging.getLogger(__name__)

NO_PREVIOUS = "none"
METRIC_PREFIX = "test_"
_NOT_FOUND = "RESOURCE_DOES_NOT_EXIST"


@dataclass(frozen=True)
class VersionSummary:
    """One registered version: when it was made, its aliases and test metrics."""

    version: str
    created: datetime
    aliases: tuple[str, ...]
    metrics: dict[str, float]


def previous_tag(config: TrackingConfig) -> str:
    """Return the version tag that names the champion a version replaced."""
    return f"{config.champion_alias}.previous"


def parse_version(text: str) -> str:
    """Return ``text`` as a canonical version number, or raise ``ModelError``."""
    if not text.isdigit() or int(text) < 1:
        raise ModelError(f"a model version is a positive integer, not {text!r}")
    return str(int(text))


def _not_found(error: MlflowException) -> bool:
    return bool(error.error_code == _NOT_FOUND)


def check_model(client: MlflowClient, config: TrackingConfig) -> RegisteredModel:
    """Return the configured registered model, or raise ``ModelError``."""
    try:
        return client.get_registered_model(config.registered_model)
    except MlflowException as error:
        if not _not_found(error):
            raise
        raise ModelError(
            f"no registered model {config.registered_model!r} at"
            f" {tracking.tracking_uri(config)}"
        ) from None


def get_version(
    client: MlflowClient, config: TrackingConfig, version: str
) -> ModelVersion:
    """Return ``version`` of the configured model, or raise ``ModelError``."""
    check_model(client, config)
    try:
        return client.get_model_version(config.registered_model, version)
    except MlflowException as error:
        if not _not_found(error):
            raise
        raise ModelError(
            f"registered model {config.registered_model!r} has no version {version}"
        ) from None


def require_champion(client: MlflowClient, config: TrackingConfig, hint: str) -> str:
    """Return the champion's version; without one, raise ``ModelError`` with ``hint``.

    Raises
    ------
    ModelError
        If the registered model does not exist or has no champion.
    """
    check_model(client, config)
    version = tracking.champion_version(client, config)
    if version is None:
        raise ModelError(
            f"registered model {config.registered_model!r} has no"
            f" @{config.champion_alias}{hint}"
        )
    return version


def crown(
    client: MlflowClient, config: TrackingConfig, version: str, previous: str | None
) -> None:
    """Move the champion alias from ``previous`` to ``version``, recording the move.

    The tag is written first, so a version never holds the alias without
    knowing what it replaced.
    """
    client.set_model_version_tag(
        config.registered_model,
        version,
        previous_tag(config),
        previous or NO_PREVIOUS,
    )
    tracking.set_champion(client, config, version)


def promote(config: TrackingConfig, version: str) -> tuple[str | None, str]:
    """Give ``version`` the champion alias.

    Returns the version that held the alias (``None`` if none did) and the
    promoted version number. Promoting the current champion changes nothing.

    Raises
    ------
    ModelError
        If the version number is malformed or the model or version unknown.
    TrackingError
        If the tracking server fails.
    """
    version = parse_version(version)
    with tracking.reported_failures(config):
        client = tracking.connect(config)
        get_version(client, config, version)
        previous = tracking.champion_version(client, config)
        if previous != version:
            crown(client, config, version, previous)
    return previous, version


def rollback(config: TrackingConfig) -> tuple[str, str]:
    """Give the champion alias back to the version that held it before.

    Returns the version that lost the alias and the one that got it back.

    Raises
    ------
    ModelError
        If the model is unknown, has no champion, or its champion replaced
        none (or one that was deleted since).
    TrackingError
        If the tracking server fails.
    """
    with tracking.reported_failures(config):
        client = tracking.connect(config)
        current = require_champion(client, config, " to roll back")
        tags = get_version(client, config, current).tags
        previous = tags.get(previous_tag(config), NO_PREVIOUS)
        if previous == NO_PREVIOUS:
            raise ModelError(
                f"version {current} of {config.registered_model!r} replaced no"
                f" earlier @{config.champion_alias}: nothing to roll back to"
            )
        get_version(client, config, previous)
        tracking.set_champion(client, config, previous)
    return current, previous


def _test_metrics(client: MlflowClient, run_id: str | None) -> dict[str, float]:
    if run_id is None:
        return {}
    metrics = client.get_run(run_id).data.metrics
    return {
        name.removeprefix(METRIC_PREFIX): value
        for name, value in metrics.items()
        if name.startswith(METRIC_PREFIX)
    }


def list_versions(config: TrackingConfig, limit: int) -> list[VersionSummary]:
    """Return the ``limit`` newest versions of the configured model, newest first.

    Raises
    ------
    ModelError
        If the registered model does not exist.
    TrackingError
        If the tracking server fails.
    """
    with tracking.reported_failures(config):
        client = tracking.connect(config)
        aliases = check_model(client, config).aliases
        name = config.registered_model
        quote = '"' if "'" in name else "'"
        found = client.search_model_versions(
            f"name = {quote}{name}{quote}",
            max_results=limit,
            order_by=["version_number DESC"],
        )
        return [
            VersionSummary(
                version=str(model_version.version),
                created=pd.Timestamp(
                    model_version.creation_timestamp, unit="ms", tz="UTC"
                ).to_pydatetime(),
                aliases=tuple(
                    sorted(
                        alias
                        for alias, version in aliases.items()
                        if str(version) == str(model_version.version)
                    )
                ),
                metrics=_test_metrics(client, model_version.run_id),
            )
            for model_version in found
        ]


def versions_table(summaries: list[VersionSummary]) -> str:
    """Return ``summaries`` as an aligned text table, the promotion metric first."""
    names = sorted(
        {name for summary in summaries for name in summary.metrics},
        key=lambda name: (name != task.PRIMARY_METRIC, name),
    )
    header = ["version", "created (UTC)", "aliases", *names]
    rows = [
        [
            summary.version,
            summary.created.strftime("%Y-%m-%d %H:%M"),
            ", ".join(f"@{alias}" for alias in summary.aliases) or "-",
            *(
                f"{summary.metrics[name]:.4f}" if name in summary.metrics else "-"
                for name in names
            ),
        ]
        for summary in summaries
    ]
    widths = [
        max(len(row[index]) for row in [header, *rows]) for index in range(len(header))
    ]
    return "\n".join(
        "  ".join(
            cell.ljust(width) for cell, width in zip(row, widths, strict=True)
        ).rstrip()
        for row in [header, *rows]
    )
