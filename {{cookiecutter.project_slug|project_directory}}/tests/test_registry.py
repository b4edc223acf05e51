"""Promotion, rollback, version listing and the model card, on a real registry.

Each test gets a registered model of its own (the ``registry`` fixture), so
none trains and none disturbs the session's champion.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from {{ cookiecutter.package_name }} import tracking
from {{ cookiecutter.package_name }}.cli.commands import versions_table
from {{ cookiecutter.package_name }}.config import Settings, TrackingConfig
from {{ cookiecutter.package_name }}.errors import ModelError, ProjectError
from {{ cookiecutter.package_name }}.model import TASK
from {{ cookiecutter.package_name }}.tracking.registry import (
    NEW_LINEAGE_TAG,
    Lineage,
    lineage_change,
    list_versions,
    promote,
    record_new_lineage,
    rollback,
    version_lineage,
)
from {{ cookiecutter.package_name }}.workflows.model_card import (
    export_champion_card,
)
from {{ cookiecutter.package_name }}.workflows.train import TrainingResult


def champion(config: TrackingConfig) -> str | None:
    return tracking.champion_version(MlflowClient(), config)


def test_promote_moves_the_alias_and_reports_the_previous_version(
    registry: TrackingConfig,
) -> None:
    assert promote(registry, "1") == (None, "1")
    assert promote(registry, "03") == ("1", "3")
    assert champion(registry) == "3"


def test_promoting_the_champion_changes_nothing(registry: TrackingConfig) -> None:
    promote(registry, "2")

    assert promote(registry, "2") == ("2", "2")
    assert champion(registry) == "2"


def test_rollback_walks_back_along_the_promotions(registry: TrackingConfig) -> None:
    for version in ("1", "2", "3"):
        promote(registry, version)

    assert rollback(registry) == ("3", "2")
    assert rollback(registry) == ("2", "1")
    assert champion(registry) == "1"
    with pytest.raises(ModelError, match="replaced no earlier @champion"):
        rollback(registry)
    assert champion(registry) == "1"


def test_rollback_without_a_champion(registry: TrackingConfig) -> None:
    with pytest.raises(ModelError, match="has no @champion to roll back"):
        rollback(registry)


@pytest.mark.parametrize(
    ("version", "message"),
    [
        ("0", "positive integer, not '0'"),
        ("two", "positive integer, not 'two'"),
        ("-1", "positive integer"),
        ("9", "has no version 9"),
    ],
)
def test_bad_versions_are_model_errors(
    registry: TrackingConfig, version: str, message: str
) -> None:
    with pytest.raises(ModelError, match=message):
        promote(registry, version)
    assert champion(registry) is None


def test_unknown_model_is_a_model_error(registry: TrackingConfig) -> None:
    unknown = registry.model_copy(update={"registered_model": "no-such-model"})

    for call in (
        lambda: promote(unknown, "1"),
        lambda: rollback(unknown),
        lambda: list_versions(unknown, 5),
    ):
        with pytest.raises(ModelError, match="no registered model 'no-such-model'"):
            call()


def test_versions_newest_first_with_aliases_and_metrics(
    registry: TrackingConfig, trained: TrainingResult
) -> None:
    promote(registry, "2")

    summaries = list_versions(registry, 2)

    assert [summary.version for summary in summaries] == ["3", "2"]
    assert [summary.aliases for summary in summaries] == [(), ("champion",)]
    assert summaries[0].metrics[TASK.PRIMARY_METRIC] == trained.score
    assert not any("/" in name for name in summaries[0].metrics)


def test_versions_table_puts_the_promotion_metric_first(
    registry: TrackingConfig,
) -> None:
    promote(registry, "1")
    summaries = list_versions(registry, 3)

    lines = versions_table(summaries, TASK.PRIMARY_METRIC).splitlines()

    assert lines[0].split()[:5] == [
        "version",
        "created",
        "(UTC)",
        "aliases",
        TASK.PRIMARY_METRIC,
    ]
    assert len(lines) == 4
    assert lines[3].split()[0] == "1"
    assert "@champion" in lines[3]


def test_model_card_of_the_champion(registry: TrackingConfig, tmp_path: Path) -> None:
    promote(registry, "2")
    path = tmp_path / "card.md"

    assert export_champion_card(registry, path) == "2"
    card = path.read_text(encoding="utf-8")
    assert card.startswith("# Model card: ")
    assert f"Version 2 of registered model `{registry.registered_model}`" in card
    for section in ("Intended use", "Data", "Metrics", "Slices", "Limitations"):
        assert f"\n## {section}\n" in card


def test_model_card_needs_a_champion(registry: TrackingConfig, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="has no @champion: train one first"):
        export_champion_card(registry, tmp_path / "card.md")
    assert not (tmp_path / "card.md").exists()


def test_model_card_to_a_missing_directory(
    registry: TrackingConfig, tmp_path: Path
) -> None:
    promote(registry, "1")

    with pytest.raises(ProjectError, match="cannot write"):
        export_champion_card(registry, tmp_path / "absent" / "card.md")


def test_lineage_of_a_version_is_its_signature_and_target(
    registry: TrackingConfig, settings: Settings
) -> None:
    lineage = version_lineage(MlflowClient(), registry, "2")

    assert set(lineage.inputs) == set(settings.data.features)
    for name in settings.data.categorical_features:
        assert lineage.inputs[name] == "string"
    assert lineage.target == settings.data.target


CHAMPION = Lineage({"size": "double", "colour": "string"}, "kind")


@pytest.mark.parametrize(
    ("candidate", "change"),
    [
        (Lineage({"colour": "string", "size": "double"}, "kind"), None),
        (Lineage({"size": "double", "colour": "string"}, None), None),
        (
            Lineage({"size": "double", "colour": "string"}, "weight"),
            "target 'weight' instead of 'kind'",
        ),
        (Lineage({"size": "double"}, "kind"), "inputs without 'colour'"),
        (
            Lineage({"size": "double", "colour": "string", "age": "long"}, "kind"),
            "new inputs 'age'",
        ),
        (
            Lineage({"size": "string", "colour": "string"}, "kind"),
            "'size' typed string instead of double",
        ),
    ],
    ids=["reordered", "target-unknown", "target", "dropped", "added", "retyped"],
)
def test_lineage_change(candidate: Lineage, change: str | None) -> None:
    assert lineage_change(candidate, CHAMPION) == change


def test_a_new_lineage_is_recorded_on_its_version(registry: TrackingConfig) -> None:
    record_new_lineage(MlflowClient(), registry, "3", "1", "inputs without 'x'")

    tags = MlflowClient().get_model_version(registry.registered_model, "3").tags
    assert tags[NEW_LINEAGE_TAG] == (
        "not compared with champion version 1: inputs without 'x'"
    )
    assert champion(registry) is None
