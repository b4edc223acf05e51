from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }} import data
from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.errors import DataError

from .conftest import DEMO_DATA


def test_reads_csv_and_parquet_alike(tmp_path: Path, demo_frame: pd.DataFrame) -> None:
    parquet = tmp_path / "penguins.parquet"
    demo_frame.to_parquet(parquet)

    from_csv = data.read_table(DEMO_DATA)
    from_parquet = data.read_table(parquet)

    # Readers may spell a missing text value as NaN or None: compare the gaps,
    # then the values.
    pd.testing.assert_frame_equal(from_csv.isna(), from_parquet.isna())
    pd.testing.assert_frame_equal(
        from_csv.dropna(), from_parquet.dropna(), check_dtype=False
    )
    assert len(from_csv) == len(demo_frame)


@pytest.mark.parametrize("chunk_size", [1, 50, 10_000])
def test_chunks_cover_every_row_in_order(
    chunk_size: int, demo_frame: pd.DataFrame
) -> None:
    chunks = list(data.iter_chunks(DEMO_DATA, chunk_size))

    assert all(len(chunk) <= chunk_size for chunk in chunks)
    pd.testing.assert_frame_equal(
        pd.concat(chunks, ignore_index=True), demo_frame, check_dtype=False
    )


def test_text_columns_are_text_with_nan_for_missing() -> None:
    df = pd.DataFrame({"year": [2007, 2008, None], "x": [1.0, 2.0, 3.0]})

    converted = data.as_text(df, ["year", "absent"])

    assert converted["year"].tolist()[:2] == ["2007.0", "2008.0"]
    assert np.isnan(converted["year"].iloc[2])
    assert converted["x"].tolist() == [1.0, 2.0, 3.0]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("absent.csv", None, "data file not found"),
        ("empty.csv", "", "file is empty"),
        ("blank.csv", "\n\n", "file has no columns"),
        ("header.csv", "a,b\n", "header but no rows"),
        ("table.xlsx", "a,b\n1,2\n", "unsupported file type '.xlsx'"),
        ("broken.parquet", "not parquet", "not a readable Parquet file"),
        ("ragged.csv", 'a,b\n1,2\n"3,4\n', "not a readable CSV file"),
    ],
)
def test_unusable_files_are_data_errors(
    tmp_path: Path, name: str, content: str | None, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content, encoding="utf-8")

    with pytest.raises(DataError, match=message):
        data.read_table(path)


def test_load_dataset_drops_rows_without_target(settings: Settings) -> None:
    raw = pd.read_csv(DEMO_DATA)

    dataset = data.load_dataset(settings.data)

    assert len(dataset.target) == raw[settings.data.target].notna().sum()
    assert dataset.target.notna().all()
    assert list(dataset.features.columns) == settings.data.features


def test_missing_columns_are_named(tmp_path: Path, settings: Settings) -> None:
    path = tmp_path / "few.csv"
    pd.read_csv(DEMO_DATA).drop(columns=["island"]).to_csv(path, index=False)

    with pytest.raises(DataError, match=r"missing column.*island"):
        data.load_dataset(settings.data, path)


def test_missing_target_column_is_named(tmp_path: Path, settings: Settings) -> None:
    path = tmp_path / "unlabelled.csv"
    pd.read_csv(DEMO_DATA).drop(columns=[settings.data.target]).to_csv(
        path, index=False
    )

    with pytest.raises(DataError, match=rf"missing column.*{settings.data.target}"):
        data.load_dataset(settings.data, path)


def test_text_in_numeric_column_is_rejected(tmp_path: Path, settings: Settings) -> None:
    column = settings.data.numeric_features[0]
    frame = pd.read_csv(DEMO_DATA)
    frame[column] = frame[column].astype(object)
    frame.loc[0, column] = "twelve"
    path = tmp_path / "typo.csv"
    frame.to_csv(path, index=False)

    with pytest.raises(DataError, match=rf"{column}' must be numeric, found 'twelve'"):
        data.load_dataset(settings.data, path)


def test_no_labelled_rows_is_an_error(tmp_path: Path, settings: Settings) -> None:
    frame = pd.read_csv(DEMO_DATA)
    frame[settings.data.target] = np.nan
    path = tmp_path / "nolabels.csv"
    frame.to_csv(path, index=False)

    with pytest.raises(DataError, match="no row has a value in target column"):
        data.load_dataset(settings.data, path)


def test_split_is_reproducible_and_sized(settings: Settings) -> None:
    dataset = data.load_dataset(settings.data)

    first = data.split_dataset(dataset, 0.25, seed=3, stratify=None)
    second = data.split_dataset(dataset, 0.25, seed=3, stratify=None)

    pd.testing.assert_frame_equal(first.test.features, second.test.features)
    assert len(first.test.target) == pytest.approx(0.25 * len(dataset.target), abs=1)


def test_split_too_small_is_a_data_error(settings: Settings) -> None:
    dataset = data.load_dataset(settings.data)
    tiny = data.Dataset(dataset.features.head(1), dataset.target.head(1))

    with pytest.raises(DataError, match="cannot split the data"):
        data.split_dataset(tiny, 0.25, seed=0, stratify=None)
