"""Training against a real (throwaway) MLflow store: logging, registry, gate."""

import json
import uuid
from collections.abc import Callable
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from mlflow.tracking import MlflowClient
from sklearn.pipeline import Pipeline

from {{ cookiecutter.package_name }} import tracking
from {{ cookiecutter.package_name }}.cli import cli
from {{ cookiecutter.package_name }}.config import ENV_PREFIX, Settings
from {{ cookiecutter.package_name }}.data import Split
from {{ cookiecutter.package_name }}.data.contract import CONTRACT_FILE
from {{ cookiecutter.package_name }}.errors import (
    DataError,
    ModelError,
    ProjectError,
)
from {{ cookiecutter.package_name }}.evaluation import CARD_ARTIFACT
from {{ cookiecutter.package_name }}.model import TASK, task
from {{ cookiecutter.package_name }}.model.features import OutlierClipper
from {{ cookiecutter.package_name }}.monitoring.log_format import PREDICTION
from {{ cookiecutter.package_name }}.tracking import (
    artifacts,
    connection,
    provenance,
    runs,
)
from {{ cookiecutter.package_name }}.tracking.artifacts import load_model
from {{ cookiecutter.package_name }}.tracking.registry import (
    is_better,
    rollback,
)
from {{ cookiecutter.package_name }}.workflows.evaluate import evaluate
from {{ cookiecutter.package_name }}.workflows.predict import predict_frame
from {{ cookiecutter.package_name }}.workflows.reports import (
    write_training_report,
)
from {{ cookiecutter.package_name }}.workflows.train import (
    TrainingResult,
    evaluate_pipeline,
    model_extras,
    train,
)

from .conftest import CONFIG_PATH, DEMO_DATA, LIGHT_TRAINING, with_tracking

SCRIPT_NAME = "{{ cookiecutter.project_slug }}"
GROUPS = ("female", "male")


def weak_settings(settings: Settings, model_name: str) -> Settings:
    """Settings for a deliberately poor model under its own registered name.

    Its slices and groups are not held to any limit, so the gate judges it on
    its overall score alone.
    """
    weak_model = settings.model.model_copy(
        update={"max_iter": 1, "learning_rate": 0.01}
    )
    weak = with_limits(settings, min_slice_score=None, max_slice_drop=None)
    weak = with_limits(weak.model_copy(update={"model": weak_model}), max_gap=None)
    return with_tracking(weak, str(settings.tracking.uri), model_name)


def with_limits(settings: Settings, **limits: float | str | None) -> Settings:
    """Return ``settings`` with ``limits`` set in ``evaluation`` or ``fairness``."""
    sections = {}
    for name in ("evaluation", "fairness"):
        section = getattr(settings, name)
        fields = type(section).model_fields
        keys = {key: value for key, value in limits.items() if key in fields}
        sections[name] = section.model_copy(update=keys)
    return settings.model_copy(update=sections)


def test_first_model_becomes_champion(
    trained: TrainingResult, tracked_settings: Settings
) -> None:
    client = MlflowClient()
    champion = client.get_model_version_by_alias(
        tracked_settings.tracking.registered_model, "champion"
    )

    assert trained.promoted
    assert trained.champion_score is None
    assert str(champion.version) == trained.model_version
    assert champion.run_id == trained.run_id


def test_run_records_params_metrics_config_and_signature(
    trained: TrainingResult, tracked_settings: Settings
) -> None:
    run = MlflowClient().get_run(trained.run_id)

    assert run.data.params["seed"] == str(tracked_settings.seed)
    assert run.data.params["model.max_iter"] == str(tracked_settings.model.max_iter)
    assert run.data.metrics[f"test_{TASK.PRIMARY_METRIC}"] == trained.score
    assert run.data.tags["promotion.promoted"] == "true"
    config = mlflow.artifacts.load_text(f"runs:/{trained.run_id}/config.yaml")
    assert yaml.safe_load(config)["seed"] == tracked_settings.seed
    info = mlflow.models.get_model_info(f"runs:/{trained.run_id}/model")
    assert info.signature is not None
    assert info.signature.inputs.input_names() == tracked_settings.data.features


def test_model_carries_its_contract_reference_and_latency(
    trained: TrainingResult,
    tracked_settings: Settings,
    champion_uri: str,
    split: Split,
) -> None:
    contract = artifacts.model_contract(champion_uri)
    reference = artifacts.model_reference(champion_uri)
    metadata = artifacts.model_metadata(champion_uri)
    logged = mlflow.artifacts.load_text(f"runs:/{trained.run_id}/{CONTRACT_FILE}")

    features = tracked_settings.data.features
    assert contract is not None
    assert [column.name for column in contract.columns] == features
    assert contract.rows == len(split.train.features)
    assert logged == contract.to_yaml()
    assert reference is not None
    assert list(reference.columns) == [*features, PREDICTION]
    assert len(reference) == len(split.train.features)
    assert metadata[artifacts.LATENCY_KEY] > 0


def test_a_model_logged_without_extras_has_no_contract(
    tmp_path: Path, fitted_pipeline: Pipeline, split: Split
) -> None:
    artifacts.save_model(fitted_pipeline, split.train.features, tmp_path / "model")

    assert artifacts.model_contract(str(tmp_path / "model")) is None
    assert artifacts.model_reference(str(tmp_path / "model")) is None


def test_personal_columns_stay_out_of_the_logged_example_and_reference(
    tracking_uri: str, settings: Settings, split: Split, fitted_pipeline: Pipeline
) -> None:
    personal = settings.data.categorical_features[0]
    data = settings.data.model_copy(update={"personal_columns": [personal]})
    private = settings.model_copy(update={"data": data})
    extras = model_extras(private, fitted_pipeline, split)
    mlflow.set_tracking_uri(tracking_uri)

    experiment = mlflow.create_experiment(f"personal-{uuid.uuid4().hex[:8]}")
    with mlflow.start_run(experiment_id=experiment) as run:
        info = artifacts.log_model(
            fitted_pipeline, split.train.features, extras, [personal]
        )

    assert info.saved_input_example_info is not None
    example_path = info.saved_input_example_info["artifact_path"]
    example = mlflow.artifacts.load_text(
        f"runs:/{run.info.run_id}/{artifacts.MODEL_ARTIFACT_NAME}/{example_path}"
    )
    values = split.train.features[personal].dropna().unique()
    assert personal in example
    assert not any(f'"{value}"' in example for value in values)
    assert personal not in extras.reference.columns
    assert extras.contract.column(personal).personal
    assert extras.contract.column(personal).categories is None


def test_personal_columns_are_not_sliced_unless_configured(
    settings: Settings, split: Split, fitted_pipeline: Pipeline
) -> None:
    personal = settings.data.categorical_features[0]
    data = settings.data.model_copy(update={"personal_columns": [personal]})
    private = settings.model_copy(update={"data": data})
    named = private.evaluation.model_copy(update={"slice_columns": [personal]})

    default = evaluate_pipeline(private, fitted_pipeline, split.test)
    chosen = evaluate_pipeline(
        private.model_copy(update={"evaluation": named}), fitted_pipeline, split.test
    )

    assert personal not in set(default.slices["column"])
    assert set(chosen.slices["column"]) == {personal}


def test_equal_candidate_does_not_take_the_alias(
    trained: TrainingResult, tracked_settings: Settings
) -> None:
    again = train(tracked_settings)

    assert not again.promoted
    assert again.champion_score == pytest.approx(trained.score)
    assert tracking.champion_version(MlflowClient(), tracked_settings.tracking) == (
        trained.model_version
    )


def test_better_candidate_takes_the_alias_and_worse_does_not(
    tracked_settings: Settings,
) -> None:
    weak = weak_settings(tracked_settings, "gate-test")
    good = with_tracking(
        tracked_settings, str(tracked_settings.tracking.uri), "gate-test"
    )

    first = train(weak)
    better = train(good)
    worse = train(weak)

    assert first.promoted
    assert better.promoted
    assert better.champion_score == pytest.approx(first.score)
    assert not worse.promoted
    assert tracking.champion_version(MlflowClient(), good.tracking) == (
        better.model_version
    )
    assert rollback(good.tracking) == (
        better.model_version,
        first.model_version,
    )


def test_registered_model_predicts_like_the_in_memory_pipeline(
    champion_uri: str, fitted_pipeline: Pipeline, split: Split
) -> None:
    loaded = load_model(champion_uri)

    np.testing.assert_array_equal(
        predict_frame(loaded, split.test.features, "test"),
        fitted_pipeline.predict(split.test.features),
    )


def test_evaluate_scores_the_champion_like_training_did(
    trained: TrainingResult, tracked_settings: Settings
) -> None:
    metrics = evaluate(tracked_settings)

    assert metrics == pytest.approx({name: trained.metrics[name] for name in metrics})


def test_evaluate_on_another_labelled_file(
    trained: TrainingResult, tracked_settings: Settings
) -> None:
    metrics = evaluate(tracked_settings, data_path=DEMO_DATA)

    assert TASK.PRIMARY_METRIC in metrics
    assert set(metrics) <= set(trained.metrics)


def test_unknown_model_uri_is_a_model_error(tracked_settings: Settings) -> None:
    with pytest.raises(ModelError, match="cannot load model 'models:/nope@champion'"):
        evaluate(tracked_settings, model_uri="models:/nope@champion")


def test_model_path_that_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="cannot load model"):
        load_model(str(tmp_path / "nothing"))


def test_wrong_type_is_a_data_error(champion_uri: str, split: Split) -> None:
    column = split.test.features.select_dtypes("number").columns[0]
    features = split.test.features.assign(**{column: "not a number"})

    with pytest.raises(DataError, match="test:"):
        predict_frame(load_model(champion_uri), features, "test")


def test_trusted_types_name_the_project_classes(fitted_pipeline: Pipeline) -> None:
    names = artifacts.trusted_types(fitted_pipeline)

    assert f"{OutlierClipper.__module__}.OutlierClipper" in names
    assert any(name.startswith(f"{task.__name__}.") for name in names)


def test_flatten_joins_nested_keys() -> None:
    assert provenance.flatten({"a": 1, "b": {"c": 2, "d": {"e": 3}}}) == {
        "a": 1,
        "b.c": 2,
        "b.d.e": 3,
    }


@pytest.mark.parametrize(
    ("candidate", "champion", "greater_is_better", "expected"),
    [
        (0.5, None, True, True),
        (0.9, 0.8, True, True),
        (0.8, 0.8, True, False),
        (0.7, 0.8, True, False),
        (1.0, 2.0, False, True),
        (2.0, 2.0, False, False),
    ],
)
def test_is_better(
    candidate: float, champion: float | None, greater_is_better: bool, expected: bool
) -> None:
    assert tracking.is_better(candidate, champion, greater_is_better) is expected


def test_tracking_uri_precedence(
    tracked_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    unset = tracked_settings.tracking.model_copy(update={"uri": None})
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking.tracking_uri(unset) == connection.DEFAULT_TRACKING_URI
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert tracking.tracking_uri(unset) == "http://127.0.0.1:5000"
    assert (
        tracking.tracking_uri(tracked_settings.tracking)
        == tracked_settings.tracking.uri
    )


def with_data(settings: Settings, path: Path, **changes: object) -> Settings:
    """Return ``settings`` training on the table at ``path``, with ``changes``."""
    data = settings.data.model_copy(update={"path": path, **changes})
    return settings.model_copy(update={"data": data})


def without_last_feature(settings: Settings, directory: Path) -> Settings:
    """Settings for a copy of the demo table without its last numeric feature."""
    dropped = settings.data.numeric_features[-1]
    path = directory / "fewer-columns.csv"
    pd.read_csv(DEMO_DATA).drop(columns=[dropped]).to_csv(path, index=False)
    numeric = settings.data.numeric_features[:-1]
    return with_data(settings, path, numeric_features=numeric)


def with_renamed_target(settings: Settings, directory: Path) -> Settings:
    """Settings for a copy of the demo table whose target column is renamed."""
    target = f"{settings.data.target}_renamed"
    path = directory / "renamed-target.csv"
    table = pd.read_csv(DEMO_DATA).rename(columns={settings.data.target: target})
    table.to_csv(path, index=False)
    return with_data(settings, path, target=target)


@pytest.fixture(scope="module")
def lineage_settings(
    tracked_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    """The shipped configuration under a model of its own, whose champion it trained."""
    name = f"lineage-{uuid.uuid4().hex[:8]}"
    settings = with_tracking(tracked_settings, str(tracked_settings.tracking.uri), name)
    saved_runs = tmp_path_factory.mktemp("lineage-runs")
    tracking_config = settings.tracking.model_copy(update={"saved_runs": saved_runs})
    settings = settings.model_copy(update={"tracking": tracking_config})
    assert train(settings).promoted
    return settings


def aliases(settings: Settings) -> dict[str, str]:
    """The aliases of the registered model of ``settings``, with their versions."""
    name = settings.tracking.registered_model
    found = MlflowClient().get_registered_model(name).aliases
    return {alias: str(version) for alias, version in found.items()}


def saved_run_of(settings: Settings, run_id: str) -> Path:
    """The saved run under ``settings`` that was logged as ``run_id``."""
    (path,) = (
        path
        for path in settings.tracking.saved_runs.iterdir()
        if (runs.logged_as(path) or {}).get("run_id") == run_id
    )
    return path


@pytest.mark.parametrize(
    ("new_lineage", "change"),
    [
        (without_last_feature, "inputs without"),
        (with_renamed_target, "instead of"),
    ],
    ids=["feature-dropped", "target-renamed"],
)
def test_other_inputs_or_target_is_a_new_lineage_not_a_challenger(
    lineage_settings: Settings,
    tmp_path: Path,
    new_lineage: Callable[[Settings, Path], Settings],
    change: str,
) -> None:
    before = aliases(lineage_settings)

    result = train(new_lineage(lineage_settings, tmp_path))

    assert aliases(lineage_settings) == before
    assert not result.promoted
    assert result.champion_score is None  # the champion was not scored
    why = result.promotion.new_lineage
    assert why is not None
    assert change in why
    name = lineage_settings.tracking.registered_model
    version = MlflowClient().get_model_version(name, result.model_version)
    assert version.tags[tracking.registry.NEW_LINEAGE_TAG] == (
        f"not compared with champion version {before['champion']}: {why}"
    )
    tags = MlflowClient().get_run(result.run_id).data.tags
    assert tags["promotion.promoted"] == "false"
    assert tags["promotion.champion_version"] == before["champion"]
    assert tags["promotion.champion_score"] == "none"
    assert tags[tracking.registry.NEW_LINEAGE_TAG] == why
    assert saved_run_of(lineage_settings, result.run_id).is_dir()


def test_train_command_names_the_promotion_of_a_new_lineage(
    lineage_settings: Settings, tmp_path: Path
) -> None:
    new = without_last_feature(lineage_settings, tmp_path)
    config = yaml.safe_load(CONFIG_PATH.read_text(encoding="utf-8"))
    config["data"].update(
        path=str(new.data.path), numeric_features=new.data.numeric_features
    )
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    tracking_config = lineage_settings.tracking
    env = {
        **LIGHT_TRAINING,
        f"{ENV_PREFIX}TRACKING__URI": str(tracking_config.uri),
        f"{ENV_PREFIX}TRACKING__REGISTERED_MODEL": tracking_config.registered_model,
        f"{ENV_PREFIX}TRACKING__SAVED_RUNS": str(tracking_config.saved_runs),
    }
    before = aliases(lineage_settings)

    result = CliRunner().invoke(cli, ["train", "--config", str(config_path)], env=env)

    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    last = result.stdout.strip().splitlines()[-1]
    version = last.removeprefix("Registered version ").split(";")[0]
    promote_command = f"{SCRIPT_NAME} promote {version}"
    assert last.endswith(f"; to make it the champion run: {promote_command}")
    assert f"not compared with champion version {before['champion']}," in last
    assert aliases(lineage_settings) == before
    assert version != before["champion"]


@pytest.fixture(scope="module")
def weak_champion(tracked_settings: Settings) -> TrainingResult:
    """The champion of a deliberately poor model (:func:`weak_settings`).

    The quality gate tests train candidates that beat it on score but fail a
    limit, so it stays the champion and they share it.
    """
    champion = train(weak_settings(tracked_settings, "weak-champion"))
    assert champion.promoted
    return champion


def candidate_settings(tracked_settings: Settings, **limits: float) -> Settings:
    """The shipped model under the weak champion's name, held to ``limits``."""
    uri = str(tracked_settings.tracking.uri)
    return with_limits(with_tracking(tracked_settings, uri, "weak-champion"), **limits)


def test_a_slice_below_the_floor_keeps_the_champion(
    tracked_settings: Settings, weak_champion: TrainingResult
) -> None:
    # A floor no model reaches (a ceiling for an error metric such as RMSE).
    unreachable = 1.01 if TASK.GREATER_IS_BETTER else 0.0
    floored = candidate_settings(tracked_settings, min_slice_score=unreachable)

    candidate = train(floored)

    assert is_better(candidate.score, weak_champion.score, TASK.GREATER_IS_BETTER)
    assert not candidate.promoted
    failures = candidate.promotion.failures
    assert failures
    assert all(failure.startswith("slice ") for failure in failures)
    assert all(f"{unreachable:g}" in failure for failure in failures)
    assert tracking.champion_version(MlflowClient(), floored.tracking) == (
        weak_champion.model_version
    )


def test_a_fairness_gap_above_the_maximum_keeps_the_champion(
    tracked_settings: Settings, weak_champion: TrainingResult
) -> None:
    strict = candidate_settings(tracked_settings, max_gap=0.0)

    candidate = train(strict)

    assert is_better(candidate.score, weak_champion.score, TASK.GREATER_IS_BETTER)
    assert not candidate.promoted
    assert candidate.promotion.failures
    assert all("fairness sex" in line for line in candidate.promotion.failures)
    assert tracking.champion_version(MlflowClient(), strict.tracking) == (
        weak_champion.model_version
    )
    metrics = MlflowClient().get_run(candidate.run_id).data.metrics
    groups = {f"fairness/sex/{group}/{TASK.PRIMARY_METRIC}" for group in GROUPS}
    assert groups <= set(metrics)
    card = mlflow.artifacts.load_text(f"runs:/{candidate.run_id}/{CARD_ARTIFACT}")
    assert "## Fairness" in card
    assert "Not promoted" in card
    assert candidate.promotion.failures[0] in card


def test_train_reports_a_feature_that_does_not_help(
    tracked_settings: Settings,
    demo_frame: pd.DataFrame,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    noisy = demo_frame.assign(
        noise=np.random.default_rng(0).normal(size=len(demo_frame))
    )
    noisy.to_csv(tmp_path / "noisy.csv", index=False)
    data = tracked_settings.data.model_copy(
        update={
            "path": tmp_path / "noisy.csv",
            "numeric_features": [*tracked_settings.data.numeric_features, "noise"],
        }
    )
    settings = tracked_settings.model_copy(update={"data": data})
    uri = str(tracked_settings.tracking.uri)

    warned = train(with_tracking(settings, uri, "noise-test"))
    strict = with_limits(settings, unimportant_features="fail")
    failed = train(with_tracking(strict, uri, "noise-fail-test"))

    assert "'noise'" in caplog.text
    assert warned.promoted
    assert not failed.promoted
    assert any("'noise'" in line for line in failed.promotion.failures)
    metrics = MlflowClient().get_run(warned.run_id).data.metrics
    assert "importance/noise" in metrics


def test_training_report_holds_metrics_version_and_held_out_predictions(
    trained: TrainingResult, split: Split, tmp_path: Path
) -> None:
    directory = tmp_path / "reports" / "train"  # created on writing

    metrics_path, holdout_path = write_training_report(directory, trained)

    metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    assert metrics == {
        **trained.metrics,
        "model_version": int(trained.model_version),
        "promoted": 1,
    }
    holdout = pd.read_csv(holdout_path)
    assert list(holdout.columns) == ["actual", "predicted"]
    assert holdout["actual"].tolist() == split.test.target.tolist()
    score = TASK.compute_metrics(holdout["actual"], holdout["predicted"])
    assert score[TASK.PRIMARY_METRIC] == pytest.approx(trained.score)


def test_training_report_into_a_file_fails_in_one_line(
    trained: TrainingResult, tmp_path: Path
) -> None:
    taken = tmp_path / "taken"
    taken.write_text("", encoding="utf-8")

    with pytest.raises(ProjectError, match=f"cannot create directory {taken}"):
        write_training_report(taken / "train", trained)
