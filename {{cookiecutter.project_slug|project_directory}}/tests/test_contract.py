"""The data contract: what it learns, how it is stored, and exact counts of breaks."""

from __future__ import annotations

import gc
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pandera
import pytest

from {{ cookiecutter.package_name }}.config import (
    ContractConfig,
    DataConfig,
    Settings,
)
from {{ cookiecutter.package_name }}.data import Split
from {{ cookiecutter.package_name }}.data.contract import (
    CONTRACT_FILE,
    Break,
    Contract,
    TableChecker,
    check_table,
    learn_contract,
    read_contract,
)
from {{ cookiecutter.package_name }}.errors import DataError

from .conftest import DEMO_DATA

DATA = DataConfig(
    path=Path("animals.csv"),
    target="weight",
    numeric_features=["size", "age"],
    categorical_features=["colour", "owner"],
    personal_columns=["age", "owner"],
)
CONFIG = ContractConfig(range_margin=0.1, null_rate_margin=0.1)


@pytest.fixture
def contract() -> Contract:
    """A contract learned from four hand-made rows."""
    training = pd.DataFrame(
        {
            "size": [0.0, 10.0, np.nan, 5.0],
            "age": [30.0, 40.0, 50.0, 60.0],
            "colour": ["red", "blue", "red", "green"],
            "owner": ["Ann", None, "Bob", "Cy"],
        }
    )
    return learn_contract(training, DATA, CONFIG)


def frame(**columns: list[object]) -> pd.DataFrame:
    """Rows that keep the contract, with ``columns`` replaced."""
    rows = len(next(iter(columns.values()), [None] * 4))
    valid = {
        "size": [5.0] * rows,
        "age": [30.0] * rows,
        "colour": ["red"] * rows,
        "owner": ["Ann"] * rows,
    }
    return pd.DataFrame({**valid, **columns})


def test_learns_bounds_categories_and_null_rates(contract: Contract) -> None:
    size, colour = contract.column("size"), contract.column("colour")

    assert (size.kind, size.minimum, size.maximum) == ("numeric", 0.0, 10.0)
    assert (size.lower, size.upper) == (-1.0, 11.0)
    assert (size.nullable, size.null_rate) == (True, 0.25)
    assert (colour.kind, colour.categories) == ("categorical", ("blue", "green", "red"))
    assert (colour.nullable, colour.null_rate) == (False, 0.0)
    assert contract.rows == 4
    assert contract.null_rate_margin == CONFIG.null_rate_margin


def test_personal_columns_keep_no_values_or_range(contract: Contract) -> None:
    age, owner = contract.column("age"), contract.column("owner")

    assert age.personal
    assert owner.personal
    assert (age.minimum, age.maximum, age.lower, age.upper) == (None,) * 4
    assert owner.categories is None
    assert (owner.nullable, owner.null_rate) == (True, 0.25)
    assert "Ann" not in contract.to_yaml()
    assert "60" not in contract.to_yaml()


def test_bounds_are_rounded_outwards_only() -> None:
    training = pd.DataFrame({"size": [32.1, 59.6], "colour": ["a", "b"]})
    data = DataConfig(
        path=Path("t.csv"),
        target="y",
        numeric_features=["size"],
        categorical_features=["colour"],
    )

    size = learn_contract(training, data, CONFIG).column("size")
    unrounded_lower, unrounded_upper = 32.1 - 2.75, 59.6 + 2.75

    assert (size.lower, size.upper) == (29.3, 62.4)
    assert size.lower is not None
    assert size.upper is not None
    assert size.lower <= unrounded_lower
    assert size.upper >= unrounded_upper


def test_learned_from_the_configured_training_rows(
    settings: Settings, split: Split
) -> None:
    contract = learn_contract(split.train.features, settings.data, settings.contract)

    assert [column.name for column in contract.columns] == settings.data.features
    assert contract.rows == len(split.train.features)
    assert contract.check(split.train.features).breaks == ()
    for name in settings.data.numeric_features:
        column = contract.column(name)
        values = split.train.features[name]
        assert (column.minimum, column.maximum) == (values.min(), values.max())
        assert column.lower is not None
        assert column.upper is not None
        assert column.lower < values.min()
        assert column.upper > values.max()
    for name in settings.data.categorical_features:
        expected = tuple(sorted(split.train.features[name].dropna().unique()))
        assert contract.column(name).categories == expected


def test_yaml_round_trip_with_a_comment_header(
    contract: Contract, tmp_path: Path
) -> None:
    text = contract.to_yaml()
    path = tmp_path / CONTRACT_FILE
    path.write_text(text, encoding="utf-8")

    assert text.startswith("# Data contract")
    assert text.splitlines()[1] == f"rows: {contract.rows}"
    assert Contract.from_yaml(text, "x") == contract
    assert read_contract(path) == contract


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("rows: [unclosed\n", "not a valid data contract"),
        ("- a list\n", "no mapping of rows"),
        (
            "rows: 4\nnull_rate_margin: 0.1\ncolumns:\n  size: {nullable: true}\n",
            "columns.0.kind",
        ),
        (
            "rows: 4\nnull_rate_margin: 0.1\ncolumns: {}\nextra: 1\n",
            "extra",
        ),
    ],
)
def test_invalid_contract_is_a_data_error_naming_its_source(
    text: str, problem: str
) -> None:
    with pytest.raises(DataError, match=r"^model/data_contract\.yaml: ") as error:
        Contract.from_yaml(text, "model/data_contract.yaml")

    assert problem in str(error.value)


def test_rows_keeping_the_contract_break_nothing(contract: Contract) -> None:
    rows = frame(size=[-1.0, 11.0, np.nan, 3], colour=["blue", "green", "red", "red"])

    check = contract.check(rows.assign(extra=1)[rows.columns[::-1]])

    assert check.breaks == ()
    assert check.broken_rows == 0
    assert check.nulls == {"size": 1, "age": 0, "colour": 0, "owner": 0}


def test_every_rule_is_counted_exactly(contract: Contract) -> None:
    rows = frame(
        size=["x", 12.5, "y", 3.0, -2.0, 100.0],
        age=[1e9, None, 30.0, 30.0, 30.0, 30.0],
        colour=["pink", "red", None, "pink", "grey", "red"],
        owner=[None, "Zed", "Ann", "Ann", "Ann", "Ann"],
    )

    check = contract.check(rows.set_index(pd.Index([10, 11, 12, 13, 14, 15])))

    assert check.breaks == (
        Break("size", "type", 2, "numbers", "x"),
        Break("size", "range", 3, "from -1 to 11", 12.5),
        Break("age", "null", 1, "no missing value, as in training"),
        Break("colour", "null", 1, "no missing value, as in training"),
        Break("colour", "category", 3, "one of blue, green, red", "pink"),
    )
    assert check.broken_rows == 6
    assert check.row_broken.tolist() == [True] * 6
    assert [item.rule for item in check.hard_breaks] == ["type"]


def test_a_row_breaking_two_rules_is_one_broken_row(contract: Contract) -> None:
    rows = frame(size=[50.0, 5.0, 5.0], colour=["pink", "red", "red"])

    check = contract.check(rows)

    assert [(item.rule, item.rows) for item in check.breaks] == [
        ("range", 1),
        ("category", 1),
    ]
    assert check.row_broken.tolist() == [True, False, False]


def test_a_missing_column_breaks_every_row(contract: Contract) -> None:
    check = contract.check(frame().drop(columns="colour"))

    assert check.breaks == (Break("colour", "missing", 4, "a required column"),)
    assert check.broken_rows == 4
    assert check.breaks[0].hard


def test_personal_values_are_never_examples(contract: Contract) -> None:
    check = contract.check(frame(age=["secret", 30.0, 30.0, 30.0]))

    assert check.breaks == (Break("age", "type", 1, "numbers"),)
    assert "secret" not in check.breaks[0].describe()


def test_null_rate_is_a_rule_of_the_whole_table(contract: Contract) -> None:
    checker = TableChecker(contract)
    checker.add(frame(size=[np.nan, np.nan, 1.0, 1.0]))
    checker.add(frame(size=[1.0, 1.0, 1.0, 1.0]))

    result = checker.result()

    # 2 of 8 rows miss a size: 25 %, not above 25 % + 10 %.
    assert result.holds
    checker.add(frame(size=[np.nan] * 4))
    assert checker.result().breaks == (
        Break("size", "null_rate", 6, "at most 35.0% missing"),
    )
    assert checker.result().broken_rows == 0


def test_describe_names_column_rule_bounds_rows_and_example() -> None:
    found = Break("Bill Length", "range", 1, "from 29.3 to 62.4", 120.0)

    assert found.describe() == (
        "column 'Bill Length', rule range (from 29.3 to 62.4): 1 row, e.g. 120.0"
    )


def write_table(path: Path, df: pd.DataFrame) -> Path:
    """Write ``df`` as CSV or Parquet, after the suffix of ``path``.

    Parquet columns have one type: a column mixing numbers and text is
    written as text, as a table made by hand would store it.
    """
    if path.suffix == ".csv":
        df.to_csv(path, index=False)
    else:
        mixed = [str(name) for name in df.columns if df[name].dtype == object]
        as_text = {name: df[name].astype("string") for name in mixed}
        df.assign(**as_text).to_parquet(path, index=False)
    return path


def broken_table(rows: int, seed: int = 0) -> pd.DataFrame:
    """``rows`` random rows, some breaking each rule, text in a numeric column."""
    rng = np.random.default_rng(seed)
    size = rng.uniform(-3.0, 13.0, rows).astype(object)
    size[rng.random(rows) < 0.05] = "heavy"
    size[rng.random(rows) < 0.5] = np.nan
    return pd.DataFrame(
        {
            "colour": rng.choice(["red", "blue", "pink", "2007"], rows),
            "size": size,
            "age": rng.uniform(0.0, 99.0, rows),
            "owner": rng.choice(["Ann", "Bob"], rows),
        }
    )


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_chunked_check_equals_whole_frame_check(
    contract: Contract, tmp_path: Path, suffix: str
) -> None:
    table = broken_table(60)
    path = write_table(tmp_path / f"table{suffix}", table)
    whole = contract.check(table)

    results = [check_table(contract, path, size) for size in (1, 7, None)]

    assert results[0] == results[1] == results[2]
    assert results[0].rows == 60
    assert results[0].broken_rows == whole.broken_rows
    row_breaks = [item for item in results[0].breaks if item.rule != "null_rate"]
    assert tuple(row_breaks) == whole.breaks
    assert {item.rule for item in results[0].breaks} == {
        "type",
        "range",
        "category",
        "null_rate",
    }


def peak_bytes(contract: Contract, path: Path, chunk_size: int | None) -> int:
    """Return the peak memory traced while checking ``path``."""
    gc.collect()
    tracemalloc.start()
    try:
        check_table(contract, path, chunk_size)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_is_bounded_by_the_chunk_size(
    contract: Contract, tmp_path: Path
) -> None:
    small = write_table(tmp_path / "small.csv", broken_table(2_000))
    large = write_table(tmp_path / "large.csv", broken_table(20_000))

    small_peak = peak_bytes(contract, small, 2_000)
    large_peak = peak_bytes(contract, large, 2_000)
    whole_peak = peak_bytes(contract, large, None)

    # Ten times the rows, in chunks: about the same peak, far below reading all.
    assert large_peak < 2 * small_peak
    assert large_peak < whole_peak / 4


def test_a_header_without_rows_is_a_data_error(
    contract: Contract, tmp_path: Path
) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("size,age,colour,owner\n", encoding="utf-8")

    with pytest.raises(DataError, match="header but no rows"):
        check_table(contract, path, 10)


def test_the_labelled_demo_rows_keep_the_contract_of_the_training_rows(
    settings: Settings, split: Split, tmp_path: Path
) -> None:
    contract = learn_contract(split.train.features, settings.data, settings.contract)
    demo = pd.read_csv(DEMO_DATA)
    labelled = demo[demo[settings.data.target].notna()]
    path = write_table(tmp_path / "labelled.csv", labelled)

    result = check_table(contract, path, 50)

    assert (result.rows, result.breaks) == (len(labelled), ())


def random_rows(generator: np.random.Generator, rows: int) -> pd.DataFrame:
    """Rows mostly keeping the contract, some breaking one rule or another."""
    return pd.DataFrame(
        {
            "size": generator.choice([-2.0, -1.0, 0.5, 11.0, 12.0, np.nan], rows),
            "age": generator.choice([30.0, 45.0, np.nan, 99.0], rows),
            "colour": generator.choice(np.array(["red", "blue", "pink", None]), rows),
            "owner": generator.choice(np.array(["Ann", "Zed", None]), rows),
        }
    )


def test_the_quick_check_never_passes_a_frame_pandera_fails(
    contract: Contract,
) -> None:
    generator = np.random.default_rng(0)
    verdicts = []

    for _ in range(100):
        rows = random_rows(generator, int(generator.integers(1, 4)))
        quick = contract.plainly_holds(rows)
        try:
            contract.schema().validate(rows, lazy=True)
        except pandera.errors.SchemaErrors:
            holds = False
        else:
            holds = True
        verdicts.append((quick, holds))
        assert holds or not quick

    assert (True, True) in verdicts
    assert (False, False) in verdicts


def test_a_frame_holding_the_contract_is_checked_without_pandera(
    contract: Contract, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = frame(size=[-1.0, 11.0, np.nan, 3.0])
    monkeypatch.setattr(Contract, "schema", None)

    check = contract.check(rows)

    assert check.breaks == ()
    assert check.nulls == {"size": 1, "age": 0, "colour": 0, "owner": 0}
    assert not check.row_broken.any()
