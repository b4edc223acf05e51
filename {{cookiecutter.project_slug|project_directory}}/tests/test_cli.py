"""The command-line interface: happy paths, and one-line errors for bad input."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from {{ cookiecutter.package_name }} import __version__
from {{ cookiecutter.package_name }}.cli import cli
from {{ cookiecutter.package_name }}.config import (
    ENV_PREFIX,
    Settings,
    TrackingConfig,
)

from .conftest import (
    CONFIG_PATH,
    CONSOLE_SCRIPT,
    DEMO_DATA,
    LIGHT_TRAINING,
    PACKAGE_NAME,
    assert_one_line_error,
    invoke,
)


@pytest.fixture
def env(tracking_uri: str, champion_uri: str, tmp_path: Path) -> dict[str, str]:
    """Environment that points the CLI at the session's tracking store."""
    return {
        **LIGHT_TRAINING,
        f"{ENV_PREFIX}TRACKING__URI": tracking_uri,
        f"{ENV_PREFIX}TRACKING__SAVED_RUNS": str(tmp_path / "saved-runs"),
        f"{ENV_PREFIX}CONFIG": str(CONFIG_PATH),
    }


def test_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])

    assert result.exit_code == 0
    assert __version__ in result.output


def test_help_lists_the_commands() -> None:
    result = CliRunner().invoke(cli, ["--help"])

    assert result.exit_code == 0
    for command in (
        "train",
        "evaluate",
        "predict",
        "upload",
        "tracking-server",
        "promote",
        "rollback",
        "versions",
        "model-card",
        "validate",
        "monitor",
        "explain",
        "tune",
        "check-data",
    ):
        assert command in result.output


def test_train_evaluate_predict(tmp_path: Path, env: dict[str, str]) -> None:
    output = tmp_path / "predictions.csv"

    trained = invoke(["train"], env)
    evaluated = invoke(["evaluate"], env)
    predicted = invoke(["predict", str(DEMO_DATA), "--output", str(output)], env)

    assert trained.exit_code == 0, trained.output
    assert "Registered version" in trained.stdout
    assert evaluated.exit_code == 0, evaluated.output
    assert "accuracy" in evaluated.stdout or "rmse" in evaluated.stdout
    assert predicted.exit_code == 0, predicted.output
    assert len(pd.read_csv(output)) == len(pd.read_csv(DEMO_DATA))


def test_train_and_evaluate_write_reports_for_a_pipeline(
    tmp_path: Path, env: dict[str, str]
) -> None:
    reports = tmp_path / "reports"  # created by the commands

    trained = invoke(["train", "--report-dir", str(reports / "train")], env)
    evaluated = invoke(["evaluate", "--output", str(reports / "evaluation.json")], env)

    assert trained.exit_code == 0, trained.output
    assert evaluated.exit_code == 0, evaluated.output
    training = json.loads((reports / "train" / "metrics.json").read_text("utf-8"))
    version = trained.stdout.split("Registered version ")[1].split(";")[0]
    assert training["model_version"] == int(version)
    assert training["promoted"] in (0, 1)
    holdout = pd.read_csv(reports / "train" / "holdout.csv")
    assert list(holdout.columns) == ["actual", "predicted"]
    evaluation = json.loads((reports / "evaluation.json").read_text("utf-8"))
    for name, value in evaluation.items():
        assert f"{name}: {value:.4f}" in evaluated.stdout


def test_logging_levels_and_json_format(env: dict[str, str]) -> None:
    default = invoke(["evaluate"], env)
    quiet = invoke(["-qq", "evaluate"], env)
    as_json = invoke(["--log-format", "json", "evaluate"], env)

    assert "INFO" in default.stderr
    assert "Scoring" in default.stderr
    # Two steps down from INFO: warnings (rows dropped for a missing target in
    # the regression demo) are quiet too.
    assert quiet.stderr == ""
    records = [json.loads(line) for line in as_json.stderr.splitlines()]
    assert any(record["message"].startswith("Scoring") for record in records)


def test_custom_log_config(tmp_path: Path, env: dict[str, str]) -> None:
    log_config = tmp_path / "logging.yaml"
    log_config.write_text(
        "version: 1\nhandlers: {out: {class: logging.StreamHandler,"
        " stream: 'ext://sys.stderr', formatter: f}}\n"
        "formatters: {f: {format: 'CUSTOM %(message)s'}}\n"
        "root: {level: INFO, handlers: [out]}\n",
        encoding="utf-8",
    )

    result = invoke(["--log-config", str(log_config), "evaluate"], env)

    assert result.exit_code == 0
    assert "CUSTOM Scoring" in result.stderr


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def linked(link: Path, target: Path, *, hard: bool = False) -> Path:
    if hard:
        link.hardlink_to(target)
    else:
        link.symlink_to(target)
    return link


@pytest.fixture
def bad_files(tmp_path: Path, settings: Settings) -> dict[str, Path]:
    numeric = settings.data.numeric_features[0]
    typo = pd.read_csv(DEMO_DATA).astype({numeric: object})
    typo.loc[3, numeric] = "heavy"
    typo.to_csv(tmp_path / "typo.csv", index=False)
    data = write(tmp_path / "data.csv", DEMO_DATA.read_text(encoding="utf-8"))
    config = write(tmp_path / "config.yaml", CONFIG_PATH.read_text(encoding="utf-8"))
    (tmp_path / "sub").mkdir()
    return {
        "empty": write(tmp_path / "empty.csv", ""),
        "columns": write(tmp_path / "columns.csv", "a,b\n1,2\n"),
        "typo": tmp_path / "typo.csv",
        "config": write(
            tmp_path / "bad.yaml",
            CONFIG_PATH.read_text().replace("seed: 42", "seed: -3"),
        ),
        "yaml": write(tmp_path / "broken.yaml", "data: [unclosed\n"),
        "logconfig": write(tmp_path / "log.yaml", "version: 99\n"),
        "goodlog": write(tmp_path / "goodlog.yaml", "version: 1\n"),
        "data": data,
        "symlink": linked(tmp_path / "symlink.csv", data),
        "hardlink": linked(tmp_path / "hardlink.csv", data, hard=True),
        "ownconfig": config,
        "configlink": linked(tmp_path / "configlink.md", config),
    }


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file below ``directory`` (links followed) with its content."""
    return {
        str(path.relative_to(directory)): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--config", "{tmp}/absent.yaml"], "config file not found"),
        (["evaluate", "--config", "{tmp}/absent.yaml"], "config file not found"),
        (["versions", "--config", "{tmp}/absent.yaml"], "config file not found"),
        (["promote", "1", "--config", "{tmp}/absent.yaml"], "config file not found"),
        (["model-card", "--config", "{tmp}/sub"], "config file not found"),
        (
            ["predict", "{data}", "-o", "{tmp}/o.csv", "--config", "{tmp}/absent"],
            "config file not found",
        ),
        (["train", "--config", "{config}"], "invalid configuration"),
        (["evaluate", "--config", "{yaml}"], "is not valid YAML at line 2"),
        (["evaluate", "--data", "{tmp}/absent.csv"], "data file not found"),
        (["evaluate", "--data", "{columns}"], "missing column"),
        (["evaluate", "--model", "models:/nope@champion"], "cannot load model"),
        (["predict", "{tmp}/absent.csv", "-o", "{tmp}/o.csv"], "data file not found"),
        (["predict", "{empty}", "-o", "{tmp}/o.csv"], "file is empty"),
        (["predict", "{columns}", "-o", "{tmp}/o.csv"], "missing column"),
        (["predict", "{typo}", "-o", "{tmp}/o.csv"], "must be numeric, found 'heavy'"),
        (["predict", "{data}", "-o", "{tmp}/o.txt"], "unsupported file type"),
        (["predict", "{tmp}/data.txt", "-o", "{tmp}/o.csv"], "type '.txt'; use .csv"),
        (
            ["predict", "{data}", "-o", "{tmp}/no/o.csv"],
            "output directory does not exist",
        ),
        (["predict", "{data}", "-o", "{tmp}/sub"], "is a directory"),
        (["predict", "{data}", "-o", "{tmp}"], "is a directory"),
        (
            ["predict", "{data}", "-o", "{tmp}/o.csv", "--model", "runs:/0/x"],
            "cannot load model",
        ),
        (
            ["predict", "{data}", "-o", "{tmp}/o.csv", "--keep", "row_id"],
            "missing column(s) row_id",
        ),
        (["predict", "{data}", "-o", "{data}"], "is an input of this command"),
        (["predict", "{data}", "-o", "{symlink}"], "is an input of this command"),
        (["predict", "{data}", "-o", "{hardlink}"], "is an input of this command"),
        (["predict", "{symlink}", "-o", "{data}"], "is an input of this command"),
        (["predict", "{data}", "-o", "{tmp}/sub/../data.csv"], "is an input"),
        (
            ["predict", "{data}", "-o", "{ownconfig}", "--config", "{ownconfig}"],
            "is an input of this command",
        ),
        (
            ["--log-config", "{goodlog}", "predict", "{data}", "-o", "{goodlog}"],
            "is an input of this command",
        ),
        (
            ["model-card", "-o", "{ownconfig}", "--config", "{ownconfig}"],
            "is an input of this command",
        ),
        (
            ["model-card", "-o", "{configlink}", "--config", "{ownconfig}"],
            "is an input of this command",
        ),
        (["model-card", "-o", "{tmp}/no/card.md"], "output directory does not exist"),
        (["--log-config", "{logconfig}", "evaluate"], "invalid log config"),
        (
            ["check-data", "-o", "{ownconfig}", "--config", "{ownconfig}"],
            "is an input of this command",
        ),
        (["check-data", "-o", "{tmp}/sub"], "is a directory"),
        (["check-data", "--config", "{config}"], "seed"),
        (["evaluate", "--data", "{data}", "-o", "{symlink}"], "is an input"),
        (["evaluate", "-o", "{empty}/metrics.json"], "output directory does not"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(
    tmp_path: Path,
    env: dict[str, str],
    bad_files: dict[str, Path],
    args: list[str],
    message: str,
) -> None:
    names = {key: str(path) for key, path in bad_files.items()}
    filled = [arg.format(tmp=tmp_path, **names) for arg in args]
    before = snapshot(tmp_path)

    result = invoke(filled, env)

    assert_one_line_error(result, message)
    assert snapshot(tmp_path) == before  # no output left, every input unchanged


@pytest.mark.parametrize(
    "args",
    [
        ["predict", "x.csv"],
        ["predict", "x.csv", "-o", "y.csv", "--chunk-size", "0"],
        ["train", "--offline", "--report-dir", "reports"],
        ["nope"],
    ],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    assert CliRunner().invoke(cli, args).exit_code == 2


def test_installed_console_script_runs(tmp_path: Path, env: dict[str, str]) -> None:
    output = tmp_path / "predictions.parquet"

    completed = subprocess.run(
        [str(CONSOLE_SCRIPT), "predict", str(DEMO_DATA), "--output", str(output)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    assert f"Wrote {len(pd.read_csv(DEMO_DATA))} predictions" in completed.stdout
    assert len(pd.read_parquet(output)) == len(pd.read_csv(DEMO_DATA))


def test_installed_console_script_error_has_no_traceback(tmp_path: Path) -> None:
    completed = subprocess.run(
        [str(CONSOLE_SCRIPT), "train", "--config", str(tmp_path / "absent.yaml")],
        capture_output=True,
        text=True,
        check=False,
    )

    assert completed.returncode == 1
    assert completed.stderr.strip().splitlines() == [
        f"Error: config file not found: {tmp_path / 'absent.yaml'}"
    ]


def test_python_dash_m_runs_the_same_cli() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", PACKAGE_NAME, "--version"],
        capture_output=True,
        text=True,
        check=True,
    )

    assert __version__ in completed.stdout


def test_the_console_script_freezes_the_collector_at_exit() -> None:
    # Exit handlers run last registered first: this one runs after main()'s.
    code = (
        "import atexit, gc, sys\n"
        "atexit.register(lambda: print('frozen', gc.get_freeze_count()))\n"
        f"from {PACKAGE_NAME}.cli import main\n"
        "sys.argv = ['prog', '--version']\n"
        "main()\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    frozen = completed.stdout.strip().splitlines()[-1]
    assert frozen.startswith("frozen ")
    assert int(frozen.removeprefix("frozen ")) > 0


@pytest.mark.parametrize(
    ("statement", "not_imported"),
    [
        # --help must stay instant: commands import their libraries when run.
        (
            f"import {PACKAGE_NAME}.cli",
            ["pandas", "sklearn", "mlflow", "pandera", "scipy"],
        ),
        # Loading a model imports its estimator's module: no plotting library yet.
        (f"import {PACKAGE_NAME}.model.task", ["matplotlib"]),
    ],
)
def test_heavy_libraries_are_imported_only_when_needed(
    statement: str, not_imported: list[str]
) -> None:
    report = "import sys; print(*sorted(m for m in sys.modules if '.' not in m))"
    completed = subprocess.run(
        [sys.executable, "-c", f"{statement}; {report}"],
        capture_output=True,
        text=True,
        check=True,
    )

    assert set(not_imported).isdisjoint(completed.stdout.split())


@pytest.mark.parametrize(
    "command",
    [
        ["train"],
        ["upload", "."],
        ["evaluate"],
        ["predict", "in.csv", "-o", "out.csv"],
        ["promote", "1"],
        ["rollback"],
        ["versions"],
        ["model-card"],
        ["validate", "in.csv"],
        ["monitor"],
        ["explain"],
        ["tune"],
        ["check-data"],
    ],
)
def test_mistyped_config_fails_before_any_ml_library_is_imported(
    tmp_path: Path, command: list[str]
) -> None:
    mistyped = tmp_path / "cofnig.yaml"
    code = (
        f"import sys\nfrom {PACKAGE_NAME}.cli import cli\n"
        f"try:\n    cli({[*command, '--config', str(mistyped)]!r})\n"
        "except SystemExit as stop:\n    print(stop.code)\n"
        "print(*sorted(m for m in sys.modules if '.' not in m))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k != f"{ENV_PREFIX}CONFIG"},
        capture_output=True,
        text=True,
        check=True,
    )

    status, modules = completed.stdout.splitlines()
    assert status == "1"
    assert completed.stderr == f"Error: config file not found: {mistyped}\n"
    assert {"mlflow", "sklearn", "pandas"}.isdisjoint(modules.split())


def test_verbose_shows_the_cause_of_an_error(tmp_path: Path) -> None:
    broken = str(write(tmp_path / "broken.yaml", "data: [unclosed\n"))

    default = CliRunner().invoke(cli, ["evaluate", "--config", broken])
    verbose = CliRunner().invoke(cli, ["-v", "evaluate", "--config", broken])

    assert_one_line_error(default, "is not valid YAML")
    assert verbose.exit_code == 1
    assert "yaml.parser.ParserError" in verbose.stderr
    last_line = verbose.stderr.strip().splitlines()[-1]
    assert last_line == f"Error: config file {broken} is not valid YAML at line 2"


def test_unusable_tracking_uri_is_one_line(env: dict[str, str]) -> None:
    unsupported = {**env, f"{ENV_PREFIX}TRACKING__URI": "bogus://nowhere"}

    result = invoke(["train"], unsupported)

    assert_one_line_error(result, "MLflow tracking at bogus://nowhere failed")


@pytest.fixture
def registry_env(env: dict[str, str], registry: TrackingConfig) -> dict[str, str]:
    """Environment pointing the CLI at the ``registry`` fixture's model."""
    return {**env, f"{ENV_PREFIX}TRACKING__REGISTERED_MODEL": registry.registered_model}


def test_promote_versions_rollback_and_model_card(
    tmp_path: Path, registry_env: dict[str, str]
) -> None:
    card = tmp_path / "card.md"
    shadow = tmp_path / "shadow-log"

    def no_shadow(version: int) -> str:
        return f"No shadow scoring of version {version} in {shadow}.\n"

    registry_env[f"{ENV_PREFIX}MONITORING__SHADOW_LOG__DIRECTORY"] = str(shadow)

    first = invoke(["promote", "1"], registry_env)
    second = invoke(["promote", "2"], registry_env)
    again = invoke(["promote", "2"], registry_env)
    listed = invoke(["versions", "--last", "2"], registry_env)
    rolled = invoke(["rollback"], registry_env)
    written = invoke(["model-card", "--output", str(card)], registry_env)

    assert first.stdout == no_shadow(1) + "Moved @champion to version 1.\n"
    assert second.stdout == (
        no_shadow(2) + "Moved @champion to version 2 (was version 1).\n"
    )
    assert again.stdout == no_shadow(2) + "Version 2 already holds @champion.\n"
    assert [line.split()[0] for line in listed.stdout.splitlines()] == [
        "version",
        "3",
        "2",
    ]
    assert "@champion" in listed.stdout.splitlines()[2]
    assert rolled.stdout == "Moved @champion back from version 2 to version 1.\n"
    assert written.stdout == f"Wrote the model card of version 1 to {card}\n"
    assert card.read_text(encoding="utf-8").startswith("# Model card")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["promote", "x"], "a model version is a positive integer, not 'x'"),
        (["promote", "7"], "has no version 7"),
        (["rollback"], "has no @champion to roll back"),
        (["model-card", "-o", "{tmp}/card.md"], "has no @champion: train one first"),
    ],
)
def test_lifecycle_errors_are_one_line(
    tmp_path: Path, registry_env: dict[str, str], args: list[str], message: str
) -> None:
    result = invoke([arg.format(tmp=tmp_path) for arg in args], registry_env)

    assert_one_line_error(result, message)
    assert not (tmp_path / "card.md").exists()


def test_versions_of_an_unknown_model(env: dict[str, str]) -> None:
    unknown = {**env, f"{ENV_PREFIX}TRACKING__REGISTERED_MODEL": "nobody"}

    assert_one_line_error(invoke(["versions"], unknown), "no registered model 'nobody'")
