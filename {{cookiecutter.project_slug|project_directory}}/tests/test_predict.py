"""Batch prediction from files: formats, chunking, and never a partial output."""

import re
from pathlib import Path
from typing import Any

import mlflow.sklearn
import numpy as np
import pandas as pd
import pytest
from mlflow.models import infer_signature
from mlflow.pyfunc import PyFuncModel
from numpy.typing import NDArray
from sklearn.pipeline import Pipeline

from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.data import Split, count_rows
from {{ cookiecutter.package_name }}.data.contract import Contract
from {{ cookiecutter.package_name }}.errors import DataError
from {{ cookiecutter.package_name }}.tracking.artifacts import (
    REQUIREMENTS_FILE,
    download_model,
    load_model,
    model_contract,
    model_options,
    save_model,
)
from {{ cookiecutter.package_name }}.workflows.predict import (
    PREDICTION_COLUMN,
    ContractPolicy,
    contract_policy,
    predict_file,
    predict_frame,
)

from .conftest import DEMO_DATA


@pytest.fixture(scope="module")
def model(champion_uri: str) -> PyFuncModel:
    return load_model(champion_uri)


def read_output(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)


def assert_same_predictions(actual: NDArray[Any], expected: NDArray[Any]) -> None:
    if pd.api.types.is_numeric_dtype(expected):
        # pandas < 3 may parse a float from CSV one bit off what was written.
        np.testing.assert_allclose(actual, expected, rtol=1e-12)
    else:
        np.testing.assert_array_equal(actual, expected)


def leftovers(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


@pytest.mark.parametrize(
    ("input_suffix", "output_suffix"),
    [(".csv", ".csv"), (".csv", ".parquet"), (".parquet", ".csv")],
)
def test_predicts_every_row_like_the_pipeline(
    tmp_path: Path,
    model: PyFuncModel,
    fitted_pipeline: Pipeline,
    settings: Settings,
    demo_frame: pd.DataFrame,
    input_suffix: str,
    output_suffix: str,
) -> None:
    source = tmp_path / f"input{input_suffix}"
    if input_suffix == ".csv":
        demo_frame.to_csv(source, index=False)
    else:
        demo_frame.to_parquet(source)
    output = tmp_path / f"predictions{output_suffix}"

    predicted = predict_file(model, source, output, chunk_size=100)

    expected = fitted_pipeline.predict(demo_frame[settings.data.features])
    written = read_output(output)
    assert predicted.rows == len(demo_frame) == len(written)
    assert predicted.contract_check is None
    assert_same_predictions(written[PREDICTION_COLUMN].to_numpy(), expected)


def test_chunk_size_does_not_change_predictions(
    tmp_path: Path, model: PyFuncModel
) -> None:
    one_chunk, small_chunks = tmp_path / "one.csv", tmp_path / "small.csv"
    seen: list[int] = []

    predict_file(model, DEMO_DATA, one_chunk, chunk_size=1_000_000)
    predict_file(model, DEMO_DATA, small_chunks, chunk_size=7, on_chunk=seen.append)

    pd.testing.assert_frame_equal(read_output(one_chunk), read_output(small_chunks))
    assert sum(seen) == count_rows(DEMO_DATA)
    assert max(seen) == 7


@pytest.mark.parametrize("threads", [1, 3])
def test_slices_scored_side_by_side_keep_the_order_of_rows(
    tmp_path: Path,
    model: PyFuncModel,
    fitted_pipeline: Pipeline,
    settings: Settings,
    demo_frame: pd.DataFrame,
    threads: int,
) -> None:
    source, output = tmp_path / "input.csv", tmp_path / "out.csv"
    demo_frame.to_csv(source, index=False)
    seen: list[int] = []

    predict_file(
        model, source, output, chunk_size=10, threads=threads, on_chunk=seen.append
    )

    expected = fitted_pipeline.predict(demo_frame[settings.data.features])
    assert_same_predictions(read_output(output)[PREDICTION_COLUMN].to_numpy(), expected)
    assert sum(seen) == len(demo_frame)
    assert max(seen) == 10


def mismatches(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name.endswith(".tracking.artifacts")
    ]


def test_a_requirement_this_environment_breaks_is_logged(
    tmp_path: Path,
    fitted_pipeline: Pipeline,
    split: Split,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = tmp_path / "model"
    save_model(fitted_pipeline, split.train.features, path)
    requirements = path / REQUIREMENTS_FILE
    pinned = requirements.read_text(encoding="utf-8")

    caplog.clear()
    load_model(str(path))
    matched = mismatches(caplog)
    requirements.write_text(
        re.sub(r"^numpy==.*$", "numpy==0.0.1", pinned, flags=re.MULTILINE),
        encoding="utf-8",
    )
    load_model(str(path))

    assert matched == []
    assert mismatches(caplog) == [
        f"model {path} was logged with numpy==0.0.1; here it is {np.__version__}"
    ]


def test_kept_columns_are_copied(tmp_path: Path, model: PyFuncModel) -> None:
    output = tmp_path / "out.csv"

    predict_file(model, DEMO_DATA, output, keep_columns=["island", "year"])

    written = read_output(output)
    source = pd.read_csv(DEMO_DATA)
    assert list(written.columns) == ["island", "year", PREDICTION_COLUMN]
    assert written["year"].tolist() == source["year"].tolist()


def test_count_rows_of_both_formats(tmp_path: Path, demo_frame: pd.DataFrame) -> None:
    parquet = tmp_path / "x.parquet"
    demo_frame.to_parquet(parquet)

    assert count_rows(DEMO_DATA) == count_rows(parquet) == len(demo_frame)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "file is empty"),
        (DEMO_DATA.read_text().splitlines()[0] + "\n", "header but no rows"),
        ("a,b\n1,2\n", "missing column"),
    ],
)
def test_bad_input_leaves_no_output(
    tmp_path: Path, model: PyFuncModel, content: str, message: str
) -> None:
    source = tmp_path / "input.csv"
    source.write_text(content, encoding="utf-8")
    output = tmp_path / "out" / "predictions.csv"
    output.parent.mkdir()

    with pytest.raises(DataError, match=message):
        predict_file(model, source, output)

    assert leftovers(output.parent) == []


def test_wrong_type_in_a_later_chunk_leaves_no_output(
    tmp_path: Path, model: PyFuncModel, demo_frame: pd.DataFrame, settings: Settings
) -> None:
    column = settings.data.numeric_features[0]
    frame = demo_frame.astype({column: object})
    frame.loc[len(frame) - 1, column] = "heavy"
    source = tmp_path / "input.csv"
    frame.to_csv(source, index=False)
    output = tmp_path / "out" / "predictions.csv"
    output.parent.mkdir()

    with pytest.raises(DataError, match=re.escape(str(source))):
        predict_file(model, source, output, chunk_size=100)

    assert leftovers(output.parent) == []


def test_an_infinite_number_is_refused_in_one_line(
    tmp_path: Path, model: PyFuncModel, demo_frame: pd.DataFrame, settings: Settings
) -> None:
    column = settings.data.numeric_features[0]
    frame = demo_frame.copy()
    frame.loc[len(frame) - 1, column] = -np.inf
    source = tmp_path / "input.csv"
    frame.to_csv(source, index=False)
    output = tmp_path / "out" / "predictions.csv"
    output.parent.mkdir()
    message = f"{source}: column '{column}' must hold finite numbers, found -inf"

    with pytest.raises(DataError, match=re.escape(message)):
        predict_file(model, source, output, chunk_size=100)
    with pytest.raises(DataError, match=re.escape(message)):
        predict_frame(model, frame, source)

    assert "-inf" in source.read_text(encoding="utf-8")
    assert leftovers(output.parent) == []


def test_a_column_that_reading_does_not_type_is_checked_by_mlflow(
    tmp_path: Path, fitted_pipeline: Pipeline, settings: Settings, split: Split
) -> None:
    column = settings.data.numeric_features[0]
    whole = split.test.features.dropna(subset=[column]).astype({column: "int64"})
    options = model_options(fitted_pipeline, whole)
    # An integer column in the signature, as a model logged elsewhere may have.
    options["signature"] = infer_signature(whole, fitted_pipeline.predict(whole))
    mlflow.sklearn.save_model(fitted_pipeline, str(tmp_path / "model"), **options)
    model = load_model(str(tmp_path / "model"))
    source, gap = tmp_path / "whole.csv", tmp_path / "gap.csv"
    whole.to_csv(source, index=False)
    whole.astype({column: "float64"}).assign(**{column: np.nan}).to_csv(
        gap, index=False
    )

    predict_file(model, source, tmp_path / "out.csv")
    with pytest.raises(DataError, match="Can not safely convert float64 to int64"):
        predict_file(model, gap, tmp_path / "gap-out.csv")

    expected = fitted_pipeline.predict(whole)
    written = read_output(tmp_path / "out.csv")[PREDICTION_COLUMN].to_numpy()
    assert_same_predictions(written, expected)


def test_a_gap_in_a_column_trained_on_whole_numbers_is_scored(
    tmp_path: Path,
    fitted_pipeline: Pipeline,
    settings: Settings,
    split: Split,
) -> None:
    column = settings.data.numeric_features[0]
    features = split.train.features.dropna(subset=[column])
    whole_numbers = features.astype({column: "int64"})
    save_model(fitted_pipeline, whole_numbers, tmp_path / "model")
    model = load_model(str(tmp_path / "model"))
    source = tmp_path / "gap.csv"
    split.test.features.assign(**{column: np.nan}).to_csv(source, index=False)

    predicted = predict_file(model, source, tmp_path / "out.csv")

    assert predicted.rows == len(split.test.features)


def test_missing_kept_column_is_named(tmp_path: Path, model: PyFuncModel) -> None:
    with pytest.raises(DataError, match=r"missing column.*row_id"):
        predict_file(model, DEMO_DATA, tmp_path / "o.csv", keep_columns=["row_id"])


def test_output_directory_must_exist(tmp_path: Path, model: PyFuncModel) -> None:
    with pytest.raises(DataError, match="output directory does not exist"):
        predict_file(model, DEMO_DATA, tmp_path / "absent" / "o.csv")


@pytest.mark.parametrize("name", ["same path", "symlink", "hard link", "resolves to"])
def test_output_that_is_the_input_is_refused(
    tmp_path: Path, model: PyFuncModel, name: str
) -> None:
    source = tmp_path / "input.csv"
    source.write_bytes(DEMO_DATA.read_bytes())
    (tmp_path / "sub").mkdir()
    output = {
        "same path": source,
        "symlink": tmp_path / "link.csv",
        "hard link": tmp_path / "hard.csv",
        "resolves to": tmp_path / "sub" / ".." / "input.csv",
    }[name]
    if name == "symlink":
        output.symlink_to(source)
    elif name == "hard link":
        output.hardlink_to(source)

    with pytest.raises(DataError, match="is an input of this command"):
        predict_file(model, source, output)

    assert source.read_bytes() == DEMO_DATA.read_bytes()
    assert leftovers(tmp_path) == sorted({"input.csv", "sub", output.name})


def test_output_that_is_a_directory_is_refused(
    tmp_path: Path, model: PyFuncModel
) -> None:
    (tmp_path / "out.csv").mkdir()

    with pytest.raises(DataError, match="is a directory"):
        predict_file(model, DEMO_DATA, tmp_path / "out.csv")


def test_unwritable_output_is_a_data_error(tmp_path: Path, model: PyFuncModel) -> None:
    output = tmp_path / "taken.csv"
    output.with_name(f".{output.name}.partial").mkdir()

    with pytest.raises(DataError, match="cannot write"):
        predict_file(model, DEMO_DATA, output)

    assert not output.exists()


def test_unsupported_output_format(tmp_path: Path, model: PyFuncModel) -> None:
    with pytest.raises(DataError, match=r"unsupported file type '\.json'"):
        predict_file(model, DEMO_DATA, tmp_path / "o.json")


@pytest.fixture(scope="module")
def contract(champion_uri: str) -> Contract:
    found = model_contract(champion_uri)
    assert found is not None
    return found


def out_of_range(settings: Settings, contract: Contract, rows: int) -> pd.DataFrame:
    """Demo rows whose first ``rows`` have the first numeric feature too large."""
    column = settings.data.numeric_features[0]
    upper = contract.column(column).upper
    assert upper is not None
    frame = labelled_demo_rows(settings)
    frame.loc[: rows - 1, column] = upper * 10
    return frame


def labelled_demo_rows(settings: Settings) -> pd.DataFrame:
    """The demo rows training can learn from: those with a target."""
    demo = pd.read_csv(DEMO_DATA)
    return demo.dropna(subset=[settings.data.target]).reset_index(drop=True)


def test_rows_breaking_the_contract_are_scored_counted_and_logged(
    tmp_path: Path,
    model: PyFuncModel,
    settings: Settings,
    contract: Contract,
    caplog: pytest.LogCaptureFixture,
) -> None:
    source, output = tmp_path / "wide.csv", tmp_path / "out.csv"
    out_of_range(settings, contract, rows=3).to_csv(source, index=False)
    policy = ContractPolicy(contract, reject=False)

    predicted = predict_file(model, source, output, chunk_size=100, policy=policy)

    check = predicted.contract_check
    assert check is not None
    column = settings.data.numeric_features[0]
    assert [(found.column, found.rule, found.rows) for found in check.breaks] == [
        (column, "range", 3)
    ]
    assert check.broken_rows == 3
    assert len(read_output(output)) == predicted.rows == count_rows(source)
    assert f"column {column!r}, rule range" in caplog.text


def test_a_rejecting_policy_writes_nothing(
    tmp_path: Path, model: PyFuncModel, settings: Settings, contract: Contract
) -> None:
    source, output = tmp_path / "wide.csv", tmp_path / "out.csv"
    out_of_range(settings, contract, rows=1).to_csv(source, index=False)
    policy = ContractPolicy(contract, reject=True)

    with pytest.raises(DataError, match=r"contract\.on_break rejects: column"):
        predict_file(model, source, output, chunk_size=7, policy=policy)

    assert leftovers(tmp_path) == ["wide.csv"]


def test_the_downloaded_copy_gives_the_champions_contract(
    tracked_settings: Settings, champion_uri: str
) -> None:
    model_dir = download_model(champion_uri)

    policy = contract_policy(tracked_settings, None, model_dir)

    assert model_dir.is_dir()
    assert policy is not None
    assert policy.contract == model_contract(champion_uri)


def test_labelled_demo_rows_hold_the_champions_contract(
    tmp_path: Path, model: PyFuncModel, settings: Settings, contract: Contract
) -> None:
    source = tmp_path / "labelled.csv"
    labelled_demo_rows(settings).to_csv(source, index=False)
    policy = ContractPolicy(contract, reject=True)

    predicted = predict_file(model, source, tmp_path / "o.csv", policy=policy)

    assert predicted.contract_check is not None
    assert predicted.contract_check.holds


def test_personal_columns_are_never_kept(tmp_path: Path, model: PyFuncModel) -> None:
    with pytest.raises(DataError, match="cannot keep 'island': it is personal data"):
        predict_file(
            model,
            DEMO_DATA,
            tmp_path / "o.csv",
            keep_columns=["island"],
            unwritten=["island"],
        )

    assert leftovers(tmp_path) == []
