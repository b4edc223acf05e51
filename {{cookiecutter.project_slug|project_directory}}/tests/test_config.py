from pathlib import Path

import pytest
from click.testing import CliRunner

from {{ cookiecutter.package_name }}.cli import cli
from {{ cookiecutter.package_name }}.config import (
    ENV_PREFIX,
    Settings,
    load_config,
)
from {{ cookiecutter.package_name }}.errors import ConfigError

from .conftest import (
    CONFIG_PATH,
    PROJECT_ROOT,
    assert_one_line_error,
    config_with_data,
    own_data_section,
)


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def shipped_config_with(tmp_path: Path, old: str, new: str) -> Path:
    text = CONFIG_PATH.read_text(encoding="utf-8")
    assert old in text
    return write_config(tmp_path, text.replace(old, new))


def test_shipped_config_loads(settings: Settings) -> None:
    assert settings.data.path == PROJECT_ROOT / "data" / "penguins.csv"
    assert settings.data.target not in settings.data.features
    assert settings.tracking.champion_alias == "champion"


def test_relative_data_path_is_resolved_against_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = shipped_config_with(tmp_path, "path: data/penguins.csv", "path: d/x.csv")
    monkeypatch.chdir(PROJECT_ROOT)

    assert load_config(path).data.path == tmp_path / "d" / "x.csv"


def test_environment_overrides_file_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}SEED", "7")
    monkeypatch.setenv(f"{ENV_PREFIX}MODEL__MAX_ITER", "3")

    settings = load_config(CONFIG_PATH)

    assert settings.seed == 7
    assert settings.model.max_iter == 3
    assert settings.model.learning_rate == load_config(CONFIG_PATH).model.learning_rate


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (f"{ENV_PREFIX}SEED", "abc", "seed: Input should be a valid integer"),
        (f"{ENV_PREFIX}DATA__TEST_SIZE", "2", "data.test_size: Input should be less"),
        (f"{ENV_PREFIX.lower()}model__max_iter", "0", "model.max_iter: Input"),
        (f"{ENV_PREFIX}DATA", '{"test_size": 2}', "data.test_size: Input"),
        (f"{ENV_PREFIX}DATA__NUMERIC_FEATURES", '["a", 1]', "numeric_features.1"),
        (f"{ENV_PREFIX}DATA__NUMERIC_FEATURES", "a, b", "written as JSON"),
    ],
)
def test_bad_environment_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)

    with pytest.raises(ConfigError) as raised:
        load_config(CONFIG_PATH)

    assert str(raised.value).startswith(
        f"invalid value in environment variable {variable}: "
    )
    assert message in str(raised.value)


def test_bad_file_value_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}MODEL__MAX_ITER", "3")
    path = shipped_config_with(tmp_path, "seed: 42", "seed: abc")

    with pytest.raises(ConfigError) as raised:
        load_config(path)

    assert str(raised.value).startswith(f"invalid configuration in {path}: seed: ")


def test_file_and_environment_at_odds_name_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    variable = f"{ENV_PREFIX}DATA__TARGET"
    monkeypatch.setenv(variable, settings.data.categorical_features[0])

    with pytest.raises(ConfigError) as raised:
        load_config(CONFIG_PATH)

    assert str(raised.value).startswith(
        f"invalid configuration in {CONFIG_PATH} with environment variable"
        f" {variable}: data: target"
    )


def test_bad_environment_value_is_one_line_from_the_cli(tmp_path: Path) -> None:
    variable = f"{ENV_PREFIX}SEED"
    env = {
        variable: "abc",
        f"{ENV_PREFIX}TRACKING__URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
    }

    result = CliRunner().invoke(cli, ["train", "--config", str(CONFIG_PATH)], env=env)

    assert_one_line_error(result, f"invalid value in environment variable {variable}")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("seed: 42", "seed: -1", r"seed: Input should be greater than or equal to 0"),
        ("test_size: 0.25", "test_size: 1.5", r"data\.test_size"),
        ("max_iter: 100", "max_iter: many", r"model\.max_iter"),
        ("seed: 42", "seed: 42\nsede: 1", r"sede: Extra inputs are not permitted"),
        ("learning_rate: 0.1", "learning_rate: 0.1\n  depth: 3", r"model\.depth"),
        ("champion_alias: champion", "champion_alias: 'two words'", "champion_alias"),
    ],
)
def test_invalid_values_name_the_setting(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    path = shipped_config_with(tmp_path, old, new)

    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_target_listed_as_feature_is_rejected(
    tmp_path: Path, settings: Settings
) -> None:
    target = settings.data.target
    path = shipped_config_with(
        tmp_path, "categorical_features: [", f"categorical_features: [{target}, "
    )

    with pytest.raises(ConfigError, match="also listed as a feature"):
        load_config(path)


def test_duplicate_features_are_rejected(tmp_path: Path, settings: Settings) -> None:
    twice = settings.data.categorical_features[0]
    path = shipped_config_with(
        tmp_path, "categorical_features: [", f"categorical_features: [{twice}, "
    )

    with pytest.raises(ConfigError, match=f"listed twice: {twice}"):
        load_config(path)


def test_train_refuses_a_forbidden_feature_in_one_line(
    tmp_path: Path, settings: Settings
) -> None:
    feature = settings.data.numeric_features[0]
    path = shipped_config_with(
        tmp_path, "forbidden_features: [year]", f"forbidden_features: [year, {feature}]"
    )
    env = {f"{ENV_PREFIX}TRACKING__URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}

    result = CliRunner().invoke(cli, ["train", "--config", str(path)], env=env)

    assert_one_line_error(result, f"data: forbidden feature(s) {feature}: remove")
    assert sorted(item.name for item in tmp_path.iterdir()) == ["config.yaml"]


def test_shipped_config_forbids_a_column_and_keeps_personal_data_out(
    settings: Settings,
) -> None:
    assert settings.data.forbidden_features == ["year"]
    assert settings.data.unwritten_columns == []
    personal = settings.data.model_copy(update={"personal_columns": ["sex"]})
    assert personal.unwritten_columns == ["sex"]
    allowed = personal.model_copy(update={"write_personal": True})
    assert allowed.unwritten_columns == []


def test_monitoring_directories_are_resolved_against_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = shipped_config_with(tmp_path, "seed: 42", "seed: 42")
    monkeypatch.chdir(PROJECT_ROOT)

    monitoring = load_config(path).monitoring

    assert monitoring.reports == tmp_path / "monitoring-reports"
    assert monitoring.prediction_log.directory == tmp_path / "prediction-log"


def test_contract_policy_must_be_score_or_reject(tmp_path: Path) -> None:
    path = shipped_config_with(tmp_path, "on_break: score", "on_break: warn")

    with pytest.raises(ConfigError, match=r"contract\.on_break: Input should be"):
        load_config(path)


def test_serving_batches_by_default_and_is_set_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    assert settings.serving.max_batch_rows > 1
    monkeypatch.setenv(f"{ENV_PREFIX}SERVING__MAX_BATCH_ROWS", "1")
    monkeypatch.setenv(f"{ENV_PREFIX}SERVING__MAX_BATCH_WAIT_MS", "0")

    serving = load_config(CONFIG_PATH).serving

    assert (serving.max_batch_rows, serving.max_batch_wait_ms) == (1, 0)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("MAX_BATCH_ROWS", "0", "serving.max_batch_rows: Input should be greater"),
        ("MAX_BATCH_ROWS", "2.5", "serving.max_batch_rows: Input should be a valid"),
        ("MAX_BATCH_WAIT_MS", "-1", "serving.max_batch_wait_ms: Input should be"),
        ("MAX_BATCH_WAIT_MS", "1001", "serving.max_batch_wait_ms: Input should be"),
    ],
)
def test_bad_serving_values_name_the_setting(
    monkeypatch: pytest.MonkeyPatch, key: str, value: str, message: str
) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}SERVING__{key}", value)

    with pytest.raises(ConfigError, match=message):
        load_config(CONFIG_PATH)


def test_slice_columns_are_unset_in_the_shipped_config(settings: Settings) -> None:
    assert settings.evaluation.slice_columns is None


def test_slice_columns_must_be_categorical_features(
    tmp_path: Path, settings: Settings
) -> None:
    numeric = settings.data.numeric_features[0]
    text = CONFIG_PATH.read_text(encoding="utf-8")
    path = write_config(
        tmp_path, f"{text}evaluation:\n  slice_columns: [{numeric}, nope]\n"
    )

    expected = f"evaluation: slice_columns must be categorical features: {numeric}"
    with pytest.raises(ConfigError, match=f"{expected}, nope$"):
        load_config(path)


def test_editing_data_alone_loads_a_table_of_ones_own(
    tmp_path: Path, own_table: Path
) -> None:
    path = config_with_data(tmp_path, own_data_section(own_table))

    settings = load_config(path)

    assert settings.data.features == ["Bill Length", "Home Island"]
    assert settings.evaluation.slice_columns is None
    assert settings.card.written_for == tmp_path / "data" / "penguins.csv"


def test_card_written_for_is_resolved_against_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = shipped_config_with(
        tmp_path, "written_for: data/penguins.csv", "written_for: d/x.csv"
    )
    monkeypatch.chdir(PROJECT_ROOT)

    assert load_config(path).card.written_for == tmp_path / "d" / "x.csv"


def test_no_features_is_rejected(tmp_path: Path, settings: Settings) -> None:
    path = write_config(
        tmp_path,
        f"data:\n  path: x.csv\n  target: {settings.data.target}\n"
        "tracking:\n  experiment: e\n  registered_model: m\n",
    )

    with pytest.raises(ConfigError, match="at least one numeric or categorical"):
        load_config(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "absent.yaml")


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = write_config(tmp_path, "seed: 1\ndata: [unclosed\n")

    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_config(path)


@pytest.mark.parametrize("text", ["", "- a list\n", "just text\n"])
def test_config_must_be_a_mapping(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError, match="must contain a mapping"):
        load_config(write_config(tmp_path, text))


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path)
