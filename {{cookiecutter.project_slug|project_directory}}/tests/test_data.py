import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import Result
from sklearn.model_selection import train_test_split

from {{ cookiecutter.package_name }} import data
from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.errors import DataError
from {{ cookiecutter.package_name }}.evaluation import holdout_split

from .conftest import DEMO_DATA, assert_one_line_error

TrainOn = Callable[[Path], Result]


def with_data_file(settings: Settings, path: Path) -> Settings:
    """Return ``settings`` reading its data from ``path``."""
    return settings.model_copy(
        update={"data": settings.data.model_copy(update={"path": path})}
    )


def four_rows(demo_frame: pd.DataFrame) -> pd.DataFrame:
    """Two labelled rows of each of two species: too few to split."""
    labelled = demo_frame.dropna(subset=["species", "body_mass_g"])
    return labelled.groupby("species").head(2).head(4)


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


def test_load_dataset_drops_rows_without_target_with_a_warning(
    tmp_path: Path, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    frame = pd.read_csv(DEMO_DATA)
    frame.loc[:4, settings.data.target] = np.nan
    unlabelled = frame[settings.data.target].isna().sum()
    path = tmp_path / "gaps.csv"
    frame.to_csv(path, index=False)

    with caplog.at_level(logging.WARNING):
        dataset = data.load_dataset(settings.data, path)

    assert len(dataset.target) == len(frame) - unlabelled
    assert dataset.target.notna().all()
    assert list(dataset.features.columns) == settings.data.features
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        f"Dropped {unlabelled} row(s) of {path} without a value in target column"
        f" {settings.data.target!r}"
    ]


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


@pytest.mark.parametrize("row", [0, 5])
def test_text_in_numeric_column_is_rejected_naming_it(
    tmp_path: Path, settings: Settings, row: int
) -> None:
    column = settings.data.numeric_features[0]
    frame = pd.read_csv(DEMO_DATA)
    frame[column] = frame[column].astype(object)
    frame.loc[row, column] = "twelve"
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

    first = data.split_dataset(dataset, 0.25, 3, None, DEMO_DATA)
    second = data.split_dataset(dataset, 0.25, 3, None, DEMO_DATA)

    pd.testing.assert_frame_equal(first.test.features, second.test.features)
    assert len(first.test.target) == pytest.approx(0.25 * len(dataset.target), abs=1)


@pytest.mark.parametrize("n_rows", [5, 8, 30, 344])
@pytest.mark.parametrize("test_size", [0.1, 0.25, 0.5, 0.75])
def test_split_sizes_are_those_of_scikit_learn(n_rows: int, test_size: float) -> None:
    rows = np.arange(n_rows)

    train, test = train_test_split(rows, test_size=test_size, random_state=0)

    assert data.split_sizes(n_rows, test_size) == (len(train), len(test))


@pytest.mark.parametrize(("test_size", "per_part"), [(0.25, 2), (0.1, 3), (0.9, 2)])
def test_rows_needed_is_the_fewest_that_split(test_size: float, per_part: int) -> None:
    needed = data.rows_needed(test_size, per_part)

    assert min(data.split_sizes(needed, test_size)) >= per_part
    assert min(data.split_sizes(needed - 1, test_size)) < per_part


def test_split_too_small_says_how_many_rows_are_needed(settings: Settings) -> None:
    dataset = data.load_dataset(settings.data)
    tiny = data.Dataset(dataset.features.head(4), dataset.target.head(4))

    with pytest.raises(DataError) as raised:
        data.split_dataset(tiny, 0.25, 0, None, DEMO_DATA)

    assert str(raised.value).startswith(
        f"{DEMO_DATA}: 4 labelled rows are too few for test_size 0.25:"
        " the split needs at least 5, for 2 rows in both"
    )


def test_stratified_split_needs_two_rows_of_every_class(settings: Settings) -> None:
    dataset = data.load_dataset(settings.data)
    labels = pd.Series(["a"] * 20 + ["b"])
    rows = data.Dataset(dataset.features.head(21), labels)

    with pytest.raises(DataError, match=r"too few rows of class 'b' \(1\)"):
        data.split_dataset(rows, 0.25, 0, labels, DEMO_DATA)


def test_stratified_split_needs_a_row_of_each_class_in_each_part(
    settings: Settings,
) -> None:
    dataset = data.load_dataset(settings.data)
    labels = pd.Series(["a", "a", "b", "b", "c", "c"])
    rows = data.Dataset(dataset.features.head(6), labels)

    with pytest.raises(
        DataError, match=r"6 labelled rows .* at least 9, for a row of each of 3"
    ):
        data.split_dataset(rows, 0.25, 0, labels, DEMO_DATA)


def test_holdout_split_refuses_too_few_rows_naming_the_file(
    tmp_path: Path, settings: Settings, demo_frame: pd.DataFrame
) -> None:
    path = tmp_path / "few.csv"
    four_rows(demo_frame).to_csv(path, index=False)

    with pytest.raises(DataError, match=f"{path}: 4 labelled rows are too few"):
        holdout_split(with_data_file(settings, path))


@pytest.mark.parametrize(
    ("size", "message"),
    [(4, "4 labelled rows are too few"), (0, "file has a header but no rows")],
)
def test_too_little_data_is_one_line_from_the_cli(
    tmp_path: Path,
    demo_frame: pd.DataFrame,
    train_on: TrainOn,
    size: int,
    message: str,
) -> None:
    path = tmp_path / "few.csv"
    four_rows(demo_frame).head(size).to_csv(path, index=False)

    result = train_on(path)

    assert_one_line_error(result, f"{path}: {message}")
    assert not (tmp_path / "saved-runs").exists()


def test_all_missing_target_is_one_line_from_the_cli(
    tmp_path: Path,
    settings: Settings,
    demo_frame: pd.DataFrame,
    train_on: TrainOn,
) -> None:
    path = tmp_path / "unlabelled.csv"
    demo_frame.assign(**{settings.data.target: np.nan}).to_csv(path, index=False)

    result = train_on(path)

    assert_one_line_error(result, f"{path}: no row has a value in target column")
    assert not (tmp_path / "saved-runs").exists()
