"""Batch prediction on Spark: the same predictions as the pandas engine, at any size.

Tests marked ``spark`` start a local Spark session; they need the spark extra
and Java (``make test-spark``). The others check, without Spark, what can go
wrong before a session starts.
"""

from __future__ import annotations

import io
import logging
import re
import socket
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, DataType, Schema, TensorSpec

from {{ cookiecutter.package_name }}.cli import cli
from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.errors import ConfigError, DataError
from {{ cookiecutter.package_name }}.tracking.artifacts import load_model
from {{ cookiecutter.package_name }}.workflows.predict import (
    PREDICTION_COLUMN,
    predict_file,
)
from {{ cookiecutter.package_name }}.workflows.spark import (
    CSV_MISSING_VALUES,
    DRIVER_HOST,
    check_master,
    check_paths,
    location_format,
    predict_table,
    prediction_type,
    require_java,
    resolved_model_uri,
    spark_session,
    warn_if_driver_unreachable,
)
from {{ cookiecutter.package_name }}.workflows.train import TrainingResult

from .conftest import (
    DEMO_DATA,
    PACKAGE_NAME,
    assert_one_line_error,
    cli_env,
    free_port,
    invoke,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

SPARK_TEST_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "4",
}


def read_spark_output(path: Path) -> pd.DataFrame:
    """The table Spark wrote as a directory of part files, in part order."""
    parts = sorted(path.glob("part-*"))
    assert parts, f"no part files in {path}"
    if path.suffix == ".parquet":
        return pd.concat(pd.read_parquet(part) for part in parts).reset_index(drop=True)
    return pd.concat(pd.read_csv(part) for part in parts).reset_index(drop=True)


def read_table(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)


def write_table(frame: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return path


def hidden_leftovers(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir() if path.name[0] in "._")


@pytest.fixture(scope="session")
def _started_sessions() -> Iterator[list[SparkSession]]:
    started: list[SparkSession] = []
    yield started
    for session in started:
        session.stop()


@pytest.fixture
def spark(_started_sessions: list[SparkSession]) -> SparkSession:
    """The tests' local Spark session, started anew if a command stopped it."""
    session = spark_session("local[2]", SPARK_TEST_CONF)
    if session not in _started_sessions:
        _started_sessions.append(session)
    return session


@pytest.fixture(scope="module")
def version_uri(tracked_settings: Settings, trained: TrainingResult) -> str:
    return resolved_model_uri(tracked_settings, None)


@pytest.fixture
def env(tracking_uri: str, trained: TrainingResult, tmp_path: Path) -> dict[str, str]:
    return cli_env(tracking_uri, tmp_path / "saved-runs")


def pandas_engine(
    model_uri: str, source: Path, output: Path, keep_columns: Sequence[str]
) -> pd.DataFrame:
    """What the pandas engine writes for ``source``."""
    predict_file(load_model(model_uri), source, output, keep_columns=keep_columns)
    return read_table(output)


# Without Spark: what fails before a session starts.


def test_missing_extra_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyspark", None)

    with pytest.raises(ConfigError, match=r"spark extra: uv sync --extra spark$"):
        spark_session()


def test_missing_extra_through_the_cli(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "pyspark", None)
    output = tmp_path / "out.parquet"

    result = invoke(
        ["predict", str(DEMO_DATA), "-o", str(output), "--engine", "spark"], env
    )

    assert_one_line_error(result, "the spark engine needs PySpark")
    assert not output.exists()


def test_java_from_java_home_or_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    java = tmp_path / "jdk" / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text("#!/bin/sh\n", encoding="utf-8")
    java.chmod(0o755)
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "jdk"))
    assert require_java() == java

    monkeypatch.delenv("JAVA_HOME")
    monkeypatch.setenv("PATH", str(java.parent))
    assert require_java() == java


@pytest.mark.parametrize("java_home", [None, "empty-jdk"])
def test_missing_java_is_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, java_home: str | None
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    if java_home is None:
        monkeypatch.delenv("JAVA_HOME", raising=False)
    else:
        (tmp_path / java_home).mkdir()
        monkeypatch.setenv("JAVA_HOME", str(tmp_path / java_home))

    with pytest.raises(ConfigError, match="needs Java 17 or newer: none found"):
        require_java()


def test_unreachable_master_is_one_line() -> None:
    master = f"spark://127.0.0.1:{free_port()}"

    with pytest.raises(ConfigError) as raised:
        check_master(master, timeout=2.0)

    assert (
        str(raised.value)
        == f"cannot reach the Spark master {master}: connection refused"
    )


def test_one_reachable_master_is_enough() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        check_master(f"spark://127.0.0.1:{free_port()},127.0.0.1:{port}")


@pytest.mark.parametrize("master", ["local[2]", "yarn", "k8s://https://cluster:443"])
def test_other_masters_are_left_to_spark(master: str) -> None:
    check_master(master)


def test_malformed_master_is_one_line() -> None:
    with pytest.raises(ConfigError, match="not a Spark master URL: spark://h:port"):
        check_master("spark://h:port")


def test_loopback_driver_is_warned_about(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("SPARK_LOCAL_IP", "127.0.0.1")

    with caplog.at_level(logging.WARNING):
        warn_if_driver_unreachable({DRIVER_HOST: "10.0.0.5"})
        assert caplog.records == []
        warn_if_driver_unreachable({})

    assert "cannot reach this driver" in caplog.text


@pytest.mark.parametrize(
    ("layout", "expected"),
    [
        ({"scores.csv": "file"}, "csv"),
        ({"scores.PARQUET": "file"}, "parquet"),
        (
            {"table": ["part-0.parquet", "part-1.parquet", "_SUCCESS", ".x.crc"]},
            "parquet",
        ),
        ({"table": ["a.csv"]}, "csv"),
    ],
)
def test_format_from_the_name_or_the_files(
    tmp_path: Path, layout: dict[str, object], expected: str
) -> None:
    ((name, content),) = layout.items()
    path = tmp_path / name
    if content == "file":
        path.touch()
    else:
        path.mkdir()
        for file in content:  # type: ignore[attr-defined]
            (path / file).touch()

    assert location_format(str(path)) == expected


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (["a.csv", "b.parquet"], "cannot tell the table's format"),
        (["data.json"], r"unsupported file type '\.json'"),
        ([], "cannot tell the table's format"),
    ],
)
def test_unknown_format_is_one_line(
    tmp_path: Path, files: list[str], message: str
) -> None:
    for file in files:
        (tmp_path / file).touch()

    with pytest.raises(DataError, match=message):
        location_format(str(tmp_path))


def test_missing_input_and_unknown_output_format(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="data file not found"):
        location_format(str(tmp_path / "absent.csv"))
    with pytest.raises(DataError, match=r"unsupported file type '\.txt'"):
        check_paths(str(DEMO_DATA), str(tmp_path / "out.txt"))


def test_remote_paths_take_their_format_from_the_name() -> None:
    assert check_paths("s3://lake/in.csv", "s3://lake/out.parquet") == (
        "csv",
        "parquet",
    )


@pytest.mark.parametrize(
    ("source", "output"),
    [
        ("table.csv", "table.csv"),
        ("table.csv", "table.csv/out.csv"),
        ("table.csv/a.csv", "table.csv"),
    ],
)
def test_output_over_the_input_is_refused(
    tmp_path: Path, source: str, output: str
) -> None:
    (tmp_path / "table.csv").mkdir()
    (tmp_path / "table.csv" / "a.csv").touch()

    with pytest.raises(DataError, match="is the input of this command"):
        check_paths(str(tmp_path / source), str(tmp_path / output))


def test_only_an_earlier_spark_output_is_replaced(tmp_path: Path) -> None:
    output = tmp_path / "scores.csv"
    output.mkdir()
    with pytest.raises(DataError, match="exists and is not an earlier Spark output"):
        check_paths(str(DEMO_DATA), str(output))

    (output / "_SUCCESS").touch()
    assert check_paths(str(DEMO_DATA), str(output)) == ("csv", "csv")

    with pytest.raises(DataError, match="output directory does not exist"):
        check_paths(str(DEMO_DATA), str(tmp_path / "absent" / "scores.csv"))


@pytest.mark.parametrize(
    ("outputs", "expected"),
    [
        (Schema([ColSpec(DataType.string)]), "string"),
        (Schema([TensorSpec(np.dtype(object), (-1,))]), "string"),
        (Schema([TensorSpec(np.dtype("float64"), (-1,))]), "double"),
        (Schema([TensorSpec(np.dtype("int64"), (-1,))]), "long"),
        (Schema([ColSpec(DataType.boolean)]), "boolean"),
        (None, "double"),
    ],
)
def test_prediction_type_follows_the_output_schema(
    outputs: Schema | None, expected: str
) -> None:
    signature = ModelSignature(
        inputs=Schema([ColSpec(DataType.double, "x")]), outputs=outputs
    )

    assert prediction_type(signature) == expected


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--master", "local[2]"], "--master and --spark-conf need --engine spark"),
        (["--spark-conf", "a=b"], "--master and --spark-conf need --engine spark"),
        (
            ["--engine", "spark", "--spark-conf", "novalue"],
            "'novalue' is not KEY=VALUE",
        ),
        (["--engine", "dask"], "'dask' is not one of"),
    ],
)
def test_spark_options_usage_errors(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["predict", "in.csv", "-o", "out.csv", *args])

    assert result.exit_code == 2
    assert message in result.output


def test_champion_is_resolved_to_its_version(
    version_uri: str, tracked_settings: Settings, trained: TrainingResult
) -> None:
    name = tracked_settings.tracking.registered_model
    run_uri = f"runs:/{trained.run_id}/model"

    assert version_uri == f"models:/{name}/{trained.model_version}"
    assert resolved_model_uri(tracked_settings, run_uri) == run_uri


def test_csv_missing_values_are_those_of_pandas() -> None:
    text = "name,value\n" + "".join(f"{value},1\n" for value in CSV_MISSING_VALUES)

    read = pd.read_csv(io.StringIO(text))

    assert len(read) == len(CSV_MISSING_VALUES)
    assert read["name"].isna().all()


def test_cli_import_does_not_import_pyspark() -> None:
    report = "import sys; print(*sorted(m for m in sys.modules if '.' not in m))"
    completed = subprocess.run(
        [sys.executable, "-c", f"import {PACKAGE_NAME}.cli; {report}"],
        capture_output=True,
        text=True,
        check=True,
    )

    assert "pyspark" not in completed.stdout.split()


# With Spark: the same answers as the pandas engine.


@pytest.mark.spark
@pytest.mark.parametrize(
    ("input_name", "output_name"),
    [
        ("in.csv", "out.csv"),
        ("in.parquet", "out.parquet"),
        ("in.csv", "out.parquet"),
        # Characters Spark would read as a glob pattern, in the output's name.
        ("in.csv", "run[1]{a,b}.parquet"),
    ],
)
def test_same_predictions_as_the_pandas_engine(
    spark: SparkSession,
    version_uri: str,
    demo_frame: pd.DataFrame,
    tmp_path: Path,
    input_name: str,
    output_name: str,
) -> None:
    source = write_table(demo_frame, tmp_path / input_name)
    output = tmp_path / output_name

    rows = predict_table(
        spark, version_uri, str(source), str(output), keep_columns=["island"]
    )

    expected = pandas_engine(
        version_uri,
        source,
        tmp_path / f"pandas{output.suffix}",
        keep_columns=["island"],
    )
    written = read_spark_output(output)
    assert rows == len(demo_frame)
    assert list(written.columns) == ["island", PREDICTION_COLUMN]
    pd.testing.assert_frame_equal(written, expected, check_dtype=False)
    assert hidden_leftovers(tmp_path) == []


@pytest.mark.spark
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_directory_of_many_rows_keeps_its_order(
    spark: SparkSession,
    version_uri: str,
    demo_frame: pd.DataFrame,
    tmp_path: Path,
    suffix: str,
) -> None:
    rows = 20_000
    resampled = demo_frame.sample(rows, replace=True, random_state=0).reset_index(
        drop=True
    )
    resampled.insert(0, "row_id", np.arange(rows))
    source = tmp_path / "inputs"
    source.mkdir()
    for index, start in enumerate(range(0, rows, rows // 4)):
        part = resampled.iloc[start : start + rows // 4]
        write_table(part, source / f"part-{index}{suffix}")
    output = tmp_path / f"scores{suffix}"

    written_rows = predict_table(
        spark, version_uri, str(source), str(output), keep_columns=["row_id"]
    )

    whole = write_table(resampled, tmp_path / f"whole{suffix}")
    expected = pandas_engine(
        version_uri, whole, tmp_path / f"pandas{suffix}", keep_columns=["row_id"]
    )
    written = read_spark_output(output)
    assert written_rows == rows
    assert written["row_id"].tolist() == list(range(rows))
    pd.testing.assert_frame_equal(written, expected, check_dtype=False)


@pytest.mark.spark
def test_an_earlier_output_is_replaced(
    spark: SparkSession, version_uri: str, demo_frame: pd.DataFrame, tmp_path: Path
) -> None:
    output = tmp_path / "scores.parquet"
    half = write_table(demo_frame.head(100), tmp_path / "half.csv")
    predict_table(spark, version_uri, str(DEMO_DATA), str(output))

    predict_table(spark, version_uri, str(half), str(output))

    assert len(read_spark_output(output)) == 100
    assert hidden_leftovers(tmp_path) == []


@pytest.mark.spark
@pytest.mark.parametrize(
    ("change", "keep", "message"),
    [
        ("drop a feature", [], "missing column(s) bill_length_mm"),
        ("none", ["row_id"], "missing column(s) row_id"),
        ("text in a number", [], "CAST_INVALID_INPUT"),
        ("no rows", [], "the input has no rows"),
    ],
)
def test_bad_input_leaves_no_output(
    spark: SparkSession,
    version_uri: str,
    demo_frame: pd.DataFrame,
    settings: Settings,
    tmp_path: Path,
    change: str,
    keep: list[str],
    message: str,
) -> None:
    feature = settings.data.numeric_features[0]
    frame = {
        "drop a feature": demo_frame.drop(columns=[feature]),
        "none": demo_frame,
        "text in a number": demo_frame.astype({feature: object}),
        "no rows": demo_frame.head(0),
    }[change]
    if change == "text in a number":
        frame.loc[len(frame) - 1, feature] = "heavy"
    source = write_table(frame, tmp_path / "in.csv")
    output = tmp_path / "out" / "scores.csv"
    output.parent.mkdir()
    if "bill_length_mm" in message:
        message = message.replace("bill_length_mm", feature)

    with pytest.raises(DataError, match=re.escape(message)):
        predict_table(spark, version_uri, str(source), str(output), keep_columns=keep)

    assert list(output.parent.iterdir()) == []


@pytest.mark.spark
def test_cli_end_to_end(
    env: dict[str, str], demo_frame: pd.DataFrame, tmp_path: Path
) -> None:
    output = tmp_path / "scores.csv"
    args = ["predict", str(DEMO_DATA), "-o", str(output), "--keep", "island"]

    spark_result = invoke(
        [
            *args,
            "--engine",
            "spark",
            "--master",
            "local[2]",
            *("--spark-conf", "spark.ui.enabled=false"),
        ],
        env,
    )
    pandas_result = invoke([*args[:3], str(tmp_path / "pandas.csv"), *args[4:]], env)

    assert spark_result.exit_code == 0, spark_result.output
    assert f"Wrote {len(demo_frame)} predictions to {output}" in spark_result.stdout
    pd.testing.assert_frame_equal(
        read_spark_output(output), pd.read_csv(tmp_path / "pandas.csv")
    )
    assert pandas_result.exit_code == 0


@pytest.mark.spark
def test_cli_unreachable_master_is_one_line(
    env: dict[str, str], tmp_path: Path
) -> None:
    master = f"spark://127.0.0.1:{free_port()}"
    output = tmp_path / "scores.csv"

    result = invoke(
        [
            "predict",
            str(DEMO_DATA),
            "-o",
            str(output),
            "--engine",
            "spark",
            "--master",
            master,
        ],
        env,
    )

    assert_one_line_error(result, f"cannot reach the Spark master {master}")
    assert not output.exists()


@pytest.mark.spark
def test_cli_table_spark_cannot_read_is_one_line(
    env: dict[str, str], tmp_path: Path
) -> None:
    # A URI reaches Spark whole; this one names a file system without a client.
    source = "s3://lake/penguins.csv"

    result = invoke(
        [
            "predict",
            source,
            "-o",
            str(tmp_path / "scores.parquet"),
            "--engine",
            "spark",
            "--master",
            "local[1]",
        ],
        env,
    )

    assert_one_line_error(result, f"{source}: org.apache.hadoop.fs.")
    assert 'No FileSystem for scheme "s3"' in result.output
    assert list(tmp_path.iterdir()) == []
