"""Slow tier: a generated project scores with Spark exactly as it does in pandas.

The default project gets its ``spark`` extra and runs its own Spark tests
(``make test-spark``); then its console script predicts the demo data with
``--engine spark`` on a local master and with the pandas engine, which must
write the same columns, values and order. Spark needs Java: the test installs
Debian's JRE where it may (:func:`helpers.install_java`).
"""

from __future__ import annotations

import csv
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from baked import Cookies
from helpers import install_java
from installed import DEFAULT_COMBINATION, Project, installed_project

pytestmark = [pytest.mark.slow, pytest.mark.spark]

DEMO_ROWS = 344
"""Rows of the demo data, data/penguins.csv."""


@pytest.fixture(scope="module")
def project(cookies_session: Cookies) -> Iterator[Project]:
    """The default project with its spark extra, without it again afterwards."""
    if not install_java():
        pytest.skip(
            "Java is not installed and could not be:"
            " run `apt-get install openjdk-17-jre-headless` as root"
        )
    installed = installed_project(cookies_session, DEFAULT_COMBINATION)
    installed.run(installed.uv, "sync", "--extra", "spark", "--compile-bytecode")
    try:
        yield installed
    finally:
        # Other modules share this environment: leave it as it was installed.
        installed.run(installed.uv, "sync", "--compile-bytecode")


@pytest.fixture(scope="module")
def tracking(
    project: Project, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """Environment of a tracking store of this module's own, with a champion."""
    store = tmp_path_factory.mktemp("spark-tracking")
    prefix = f"{project.package.upper()}_"
    environment = {
        f"{prefix}TRACKING__URI": f"sqlite:///{store / 'mlflow.db'}",
        f"{prefix}TRACKING__SAVED_RUNS": str(store / "saved-runs"),
    }
    project.cli("train", extra_env=environment)
    return environment


def csv_rows(*files: Path) -> list[list[str]]:
    """The rows of the CSV ``files``, one file after the other, without headers."""
    rows: list[list[str]] = []
    for path in files:
        with path.open(newline="", encoding="utf-8") as handle:
            rows.extend(list(csv.reader(handle))[1:])
    return rows


def test_the_projects_spark_tests_pass(project: Project) -> None:
    completed = project.run("make", "test-spark")

    assert " passed" in completed.stdout
    assert "skipped" not in completed.stdout


def test_spark_engine_writes_what_the_pandas_engine_writes(
    project: Project, tracking: dict[str, str], tmp_path: Path
) -> None:
    pandas_output, spark_output = tmp_path / "pandas.csv", tmp_path / "spark.csv"
    predict = ["predict", "data/penguins.csv", "--keep", "island", "--output"]

    project.cli(*predict, str(pandas_output), extra_env=tracking)
    completed = project.cli(
        *predict, str(spark_output), "--engine", "spark", "--master", "local[2]",
        extra_env=tracking,
    )  # fmt: skip

    assert f"Wrote {DEMO_ROWS} predictions to {spark_output}" in completed.stdout
    parts = sorted(spark_output.glob("part-*.csv"))
    headers = {path.read_text(encoding="utf-8").splitlines()[0] for path in parts}
    assert headers == {"island,prediction"}
    expected = csv_rows(pandas_output)
    assert len(expected) == DEMO_ROWS
    assert csv_rows(*parts) == expected


def test_bad_input_is_one_line_and_leaves_no_output(
    project: Project, tracking: dict[str, str], tmp_path: Path
) -> None:
    source = tmp_path / "no-features.csv"
    source.write_text("id,island\n1,Dream\n", encoding="utf-8")
    output = tmp_path / "out" / "scores.parquet"
    output.parent.mkdir()
    script = project.path / ".venv" / "bin" / project.slug
    spark = ["--engine", "spark", "--master", "local[2]"]

    completed = subprocess.run(
        [str(script), "predict", str(source), "--output", str(output), *spark],
        cwd=project.path,
        env=project.environment(tracking),
        capture_output=True,
        text=True,
        check=False,
    )

    assert completed.returncode == 1, completed.stderr
    lines = completed.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("Error: ")]
    assert errors == lines[-1:], completed.stderr
    assert "missing column(s)" in errors[0]
    assert "Traceback" not in completed.stderr
    assert list(output.parent.iterdir()) == []
