"""The model registry: versions, the champion alias, and every move of it.

All registry logic lives here: registering a version, finding the champion,
the gate's comparison of a candidate with it, moving the alias, the rollback
history, and listing versions.

Only a candidate of the champion's lineage (the same input columns of the
same types, and the same target) is scored against it: a model of other
inputs or another target is registered with the reason as the version tag
``promotion.new_lineage``, and the alias stays where it is until a person
promotes it (see :func:`lineage_change`).

The champion alias moves in three ways: the training gate (a better
candidate, see :func:`is_better` and :func:`crown`), :func:`promote` (a
person's choice of version) and :func:`rollback` (undo the last move). Every
promotion records on the version it promotes, as the tag
``<alias>.previous``, which version held the alias before it, so a rollback
always knows where to go, and repeated rollbacks walk back along the chain.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from mlflow.entities.model_registry import ModelVersion, RegisteredModel
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature, get_model_info
from mlflow.tracking import MlflowClient
from mlflow.types import DataType

from ..config import TrackingConfig
from ..errors import ModelError, first_line
from .connection import connect, reported_failures, tracking_uri

logger = logging.getLogger(__name__)

NO_PREVIOUS = "none"
METRIC_PREFIX = "test_"
_NOT_FOUND = "RESOURCE_DOES_NOT_EXIST"
# The configured target among a run's parameters, as provenance.flatten names it.
TARGET_PARAM = "data.target"
NEW_LINEAGE_TAG = "promotion.new_lineage"
REGISTRY_URI = re.compile(r"models:/(?P<name>[^/@]+)(@(?P<alias>.+)|/(?P<version>\d+))")


@dataclass(frozen=True)
class VersionSummary:
    """One registered version: when it was made, its aliases and test metrics."""

    version: str
    created: datetime
    aliases: tuple[str, ...]
    metrics: dict[str, float]


@dataclass(frozen=True)
class Lineage:
    """What makes two models comparable: their typed input columns and target.

    ``target`` is ``None`` when it is unknown, e.g. for a version registered
    from a run that did not record it.
    """

    inputs: dict[str, str]
    target: str | None


def registered_version(client: MlflowClient, uri: str) -> tuple[str, str] | None:
    """Return the registered model and version that ``uri`` names, if it names one.

    ``models:/name/3`` names version 3, ``models:/name@alias`` the version
    holding the alias now; a run, a path or a logged model's ID names none.

    Raises
    ------
    ModelError
        If the registry cannot resolve the alias.
    """
    match = REGISTRY_URI.fullmatch(uri)
    if match is None:
        return None
    if match["version"]:
        return match["name"], match["version"]
    try:
        found = client.get_model_version_by_alias(match["name"], match["alias"])
    except MlflowException as error:
        raise ModelError(f"cannot resolve {uri!r}: {first_line(error)}") from error
    return match["name"], str(found.version)


def champion_uri(config: TrackingConfig) -> str:
    """Return the URI of the model version that holds the champion alias."""
    return f"models:/{config.registered_model}@{config.champion_alias}"


def version_uri(config: TrackingConfig, version: str) -> str:
    """Return the URI of ``version`` of the configured registered model."""
    return f"models:/{config.registered_model}/{version}"


def register(client: MlflowClient, model_uri: str, name: str, run_id: str) -> str:
    """Register ``model_uri`` from run ``run_id`` as a new version of ``name``.

    Returns the new version number.
    """
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name)
    # A tracking server accepts a logged model's URI only with its ID.
    model_id = model_uri.removeprefix("models:/")
    model_version = client.create_model_version(
        name, model_uri, run_id=run_id, model_id=model_id
    )
    logger.info("Registered %s version %s", name, model_version.version)
    return str(model_version.version)


def champion_version(client: MlflowClient, config: TrackingConfig) -> str | None:
    """Return the version holding the champion alias, or ``None`` if no model does."""
    try:
        found = client.get_model_version_by_alias(
            config.registered_model, config.champion_alias
        )
    except MlflowException:
        return None
    return str(found.version)


def is_better(
    candidate: float, champion: float | None, greater_is_better: bool
) -> bool:
    """Return whether ``candidate`` beats ``champion`` (no champion: it does).

    Examples
    --------
    >>> is_better(0.91, 0.90, greater_is_better=True)
    True
    >>> is_better(12.5, 12.5, greater_is_better=False)
    False
    """
    if champion is None:
        return True
    return candidate > champion if greater_is_better else candidate < champion


def input_types(signature: ModelSignature | None) -> dict[str, str]:
    """Return each named input column of ``signature`` with the name of its type."""
    if signature is None or not signature.inputs.has_input_names():
        return {}
    return {
        name: kind.name if isinstance(kind, DataType) else str(kind)
        for name, kind in signature.inputs.input_types_dict().items()
    }


def version_lineage(
    client: MlflowClient, config: TrackingConfig, version: str
) -> Lineage:
    """Return the lineage of ``version``: its model's signature, its run's target.

    Only the model's ``MLmodel`` file and the run's parameters are read, not
    the model itself.
    """
    run_id = client.get_model_version(config.registered_model, version).run_id
    signature = get_model_info(version_uri(config, version)).signature
    params = client.get_run(run_id).data.params if run_id else {}
    return Lineage(input_types(signature), params.get(TARGET_PARAM))


def _names(names: list[str]) -> str:
    return ", ".join(repr(name) for name in names)


def lineage_change(candidate: Lineage, champion: Lineage) -> str | None:
    """Describe how ``candidate``'s lineage differs from ``champion``'s, if it does.

    The order of the input columns does not matter, nor an unknown target.

    Examples
    --------
    >>> champion = Lineage({"a": "double", "b": "string"}, "y")
    >>> print(lineage_change(Lineage({"b": "string", "a": "double"}, "y"), champion))
    None
    >>> print(lineage_change(Lineage({"a": "double", "b": "string"}, "z"), champion))
    target 'z' instead of 'y'
    >>> print(lineage_change(Lineage({"a": "long", "c": "string"}, "y"), champion))
    inputs without 'b'; new inputs 'c'; 'a' typed long instead of double
    """
    changes = []
    targets = (candidate.target, champion.target)
    if None not in targets and candidate.target != champion.target:
        changes.append(f"target {candidate.target!r} instead of {champion.target!r}")
    dropped = [name for name in champion.inputs if name not in candidate.inputs]
    if dropped:
        changes.append(f"inputs without {_names(dropped)}")
    added = [name for name in candidate.inputs if name not in champion.inputs]
    if added:
        changes.append(f"new inputs {_names(added)}")
    changes += [
        f"{name!r} typed {kind} instead of {champion.inputs[name]}"
        for name, kind in candidate.inputs.items()
        if champion.inputs.get(name, kind) != kind
    ]
    return "; ".join(changes) or None


def record_new_lineage(
    client: MlflowClient,
    config: TrackingConfig,
    version: str,
    champion: str,
    change: str,
) -> None:
    """Tag ``version`` as not compared with version ``champion``, and why.

    ``change`` says how their lineages differ (see :func:`lineage_change`).
    """
    why = f"not compared with champion version {champion}: {change}"
    client.set_model_version_tag(config.registered_model, version, NEW_LINEAGE_TAG, why)
    logger.info("Version %s starts a new lineage: %s", version, change)


def set_champion(
    client: MlflowClient, config: TrackingConfig, model_version: str
) -> None:
    """Move the champion alias to ``model_version``."""
    client.set_registered_model_alias(
        config.registered_model, config.champion_alias, model_version
    )
    logger.info(
        "Moved @%s of %s to version %s",
        config.champion_alias,
        config.registered_model,
        model_version,
    )


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
            f" {tracking_uri(config)}"
        ) from error


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
        ) from error


def require_champion(client: MlflowClient, config: TrackingConfig, hint: str) -> str:
    """Return the champion's version; without one, raise ``ModelError`` with ``hint``.

    Raises
    ------
    ModelError
        If the registered model does not exist or has no champion.
    """
    check_model(client, config)
    version = champion_version(client, config)
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
    set_champion(client, config, version)


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
    with reported_failures(config):
        client = connect(config)
        get_version(client, config, version)
        previous = champion_version(client, config)
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
    with reported_failures(config):
        client = connect(config)
        current = require_champion(client, config, " to roll back")
        tags = get_version(client, config, current).tags
        previous = tags.get(previous_tag(config), NO_PREVIOUS)
        if previous == NO_PREVIOUS:
            raise ModelError(
                f"version {current} of {config.registered_model!r} replaced no"
                f" earlier @{config.champion_alias}: nothing to roll back to"
            )
        get_version(client, config, previous)
        set_champion(client, config, previous)
    return current, previous


def held_out_metrics(client: MlflowClient, run_id: str | None) -> dict[str, float]:
    """Return the held-out test metrics that run ``run_id`` logged, without prefix."""
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
    with reported_failures(config):
        client = connect(config)
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
                metrics=held_out_metrics(client, model_version.run_id),
            )
            for model_version in found
        ]
