"""The data contract: what the training rows looked like, and which new rows break it.

``train`` learns a contract from the features of its training rows and stores
it with the model as ``data_contract.yaml``; ``validate``, ``predict``,
``serve`` and ``monitor`` check new data against it. pandera evaluates the
rules. Two rules are hard, as a row breaking them cannot be scored: a
``missing`` column, and a value of the wrong ``type`` (text in a numeric
column). The others are soft, as the model still gives an answer, just one
less trustworthy: a ``null`` where training had no missing value, a number
out of ``range``, an unseen ``category``, and, over a whole table, a
``null_rate`` above the training rate plus a margin.
"""

from __future__ import annotations

import gc
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import pandas as pd
import pandera.pandas as pandera
import yaml
from numpy.typing import NDArray
from pydantic import ConfigDict, TypeAdapter, ValidationError

from ..config import ContractConfig, DataConfig
from ..errors import DataError, first_line
from .tables import ColumnDtypes, iter_chunks

CONTRACT_FILE: Final = "data_contract.yaml"
"""Name of the contract's file, in a run's artifacts and beside the model."""

MISSING: Final = "missing"
TYPE: Final = "type"
NULL: Final = "null"
RANGE: Final = "range"
CATEGORY: Final = "category"
NULL_RATE: Final = "null_rate"
RULES: Final = (MISSING, TYPE, NULL, RANGE, CATEGORY, NULL_RATE)
"""Every rule, in the order breaks are reported."""
HARD_RULES: Final = frozenset({MISSING, TYPE})
"""Rules whose breaks leave a row that cannot be scored."""

MAX_LISTED_VALUES: Final = 10
"""Categories named in a break's description; more are counted."""
NULL_RATE_QUANTUM: Final = Decimal("0.0001")
"""Training null rates are rounded up to this, so rounding never makes them stricter."""

Kind = Literal["numeric", "categorical"]
"""What a column holds, numbers or categories read as text."""

_STRICT: Final = ConfigDict(extra="forbid")
_CASE_COLUMNS: Final = ["column", "rule", "index", "failure_case"]


@dataclass(frozen=True)
class ColumnContract:
    """What the training rows held in one feature column.

    Attributes
    ----------
    name : str
        The column's name.
    kind : {"numeric", "categorical"}
        Numbers, or categories read as text.
    nullable : bool
        Whether the training rows had missing values in it.
    null_rate : float
        Their share, rounded up to four decimals.
    minimum, maximum : float or None
        Range of the training values (numeric columns, not personal ones).
    lower, upper : float or None
        Accepted bounds: the range widened on each side by ``range_margin``
        times its width, rounded outwards to two significant digits of the
        margin.
    categories : tuple of str or None
        Categories seen in training, sorted (categorical, not personal).
    personal : bool
        Whether the column holds personal data: then neither its values nor
        its range are recorded.
    """

    __pydantic_config__ = _STRICT

    name: str
    kind: Kind
    nullable: bool
    null_rate: float
    minimum: float | None = None
    maximum: float | None = None
    lower: float | None = None
    upper: float | None = None
    categories: tuple[str, ...] | None = None
    personal: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return the column's YAML mapping: unset fields and the name left out."""
        fields = {
            "kind": self.kind,
            "personal": self.personal,
            "nullable": self.nullable,
            "null_rate": self.null_rate,
            "minimum": self.minimum,
            "maximum": self.maximum,
            "lower": self.lower,
            "upper": self.upper,
            "categories": None if self.categories is None else list(self.categories),
        }
        return {key: value for key, value in fields.items() if value is not None}

    def expected(self, rule: str, null_rate_margin: float) -> str:
        """Describe what ``rule`` expects of the column, for a break's line.

        Examples
        --------
        >>> mass = ColumnContract("body_mass_g", "numeric", False, 0.0,
        ...                       lower=2340.0, upper=6660.0)
        >>> mass.expected("range", 0.1)
        'from 2340 to 6660'
        >>> mass.expected("null_rate", 0.1)
        'at most 10.0% missing'
        """
        descriptions = {
            MISSING: "a required column",
            TYPE: "numbers",
            NULL: "no missing value, as in training",
            RANGE: f"from {_number(self.lower)} to {_number(self.upper)}",
            CATEGORY: f"one of {_listed(self.categories or ())}",
            NULL_RATE: f"at most {self.null_rate + null_rate_margin:.1%} missing",
        }
        return descriptions[rule]

    def pandera_column(self) -> pandera.Column:
        """Return the pandera column that checks this column's rules."""
        checks = []
        if self.lower is not None and self.upper is not None:
            checks.append(pandera.Check.in_range(self.lower, self.upper))
        if self.categories is not None:
            checks.append(pandera.Check.isin(self.categories))
        # Coercion checks the type: a number of any dtype passes, as does any
        # category (``2007`` is the category "2007", as data/tables.py reads it).
        dtype = "float64" if self.kind == "numeric" else str
        return pandera.Column(
            dtype, checks=checks, nullable=self.nullable, coerce=True, required=True
        )


@dataclass(frozen=True)
class Break:
    """A rule broken by some rows of a table.

    Attributes
    ----------
    column : str
        The column at fault.
    rule : str
        One of :data:`RULES`.
    rows : int
        How many rows break it; every row for a missing column, and the rows
        missing a value for ``null_rate``.
    expected : str
        What the rule expects, e.g. ``"from 29.3 to 62.4"``.
    example : object
        The first offending value; ``None`` for a missing column, a missing
        value, and a personal column (its values are never shown).
    """

    column: str
    rule: str
    rows: int
    expected: str
    example: object = None

    @property
    def hard(self) -> bool:
        """Whether the offending rows cannot be scored at all."""
        return self.rule in HARD_RULES

    def describe(self) -> str:
        """Return the break as one line: column, rule and bounds, rows, example.

        Examples
        --------
        >>> island = Break("island", "category", 2, "one of Biscoe", "Atlantis")
        >>> island.describe()
        "column 'island', rule category (one of Biscoe): 2 rows, e.g. 'Atlantis'"
        """
        rows = f"{self.rows} row" if self.rows == 1 else f"{self.rows} rows"
        example = "" if self.example is None else f", e.g. {self.example!r}"
        return (
            f"column {self.column!r}, rule {self.rule} ({self.expected}):"
            f" {rows}{example}"
        )

    def plus(self, other: Break) -> Break:
        """Return this break counted together with ``other`` (same column and rule).

        The example stays the first one found.
        """
        example = other.example if self.example is None else self.example
        return replace(self, rows=self.rows + other.rows, example=example)


@dataclass(frozen=True)
class ContractCheck:
    """The result of checking one frame against the contract, ``null_rate`` aside.

    Attributes
    ----------
    rows : int
        Rows checked.
    breaks : tuple of Break
        Rules broken, in column then :data:`RULES` order, counted exactly.
    nulls : mapping of str to int
        Missing values per contract column present in the frame; summed over
        the chunks of a table, they give its ``null_rate`` breaks.
    row_broken : numpy.ndarray
        Whether each row of the frame, by position, breaks at least one rule.
    """

    rows: int
    breaks: tuple[Break, ...]
    nulls: Mapping[str, int]
    row_broken: NDArray[np.bool_]

    @property
    def broken_rows(self) -> int:
        """Rows breaking at least one rule."""
        return int(self.row_broken.sum())

    @property
    def hard_breaks(self) -> tuple[Break, ...]:
        """Breaks that leave rows which cannot be scored."""
        return tuple(item for item in self.breaks if item.hard)

    @property
    def soft_breaks(self) -> tuple[Break, ...]:
        """Breaks of rows that can still be scored."""
        return tuple(item for item in self.breaks if not item.hard)


@dataclass(frozen=True)
class TableCheck:
    """The result of checking a whole table against the contract.

    Attributes
    ----------
    rows : int
        Rows checked.
    broken_rows : int
        Rows breaking at least one rule (``null_rate`` is a rule of the whole
        table, and marks no row).
    breaks : tuple of Break
        Rules broken, ``null_rate`` included, in column then :data:`RULES`
        order.
    nulls : mapping of str to int
        Missing values per contract column present in the table.
    """

    rows: int
    broken_rows: int
    breaks: tuple[Break, ...]
    nulls: Mapping[str, int]

    @property
    def holds(self) -> bool:
        """Whether the table breaks no rule."""
        return not self.breaks


@dataclass(frozen=True)
class Contract:
    """The data contract of a model: one :class:`ColumnContract` per feature.

    Attributes
    ----------
    columns : tuple of ColumnContract
        The features, in the model's order.
    rows : int
        Training rows the contract was learned from.
    null_rate_margin : float
        How far above its training null rate a column's null rate may rise
        in a table.
    """

    __pydantic_config__ = _STRICT

    columns: tuple[ColumnContract, ...]
    rows: int
    null_rate_margin: float

    def column(self, name: str) -> ColumnContract:
        """Return the contract of the column called ``name``.

        Raises
        ------
        KeyError
            If the contract has no such column.
        """
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    def read_dtypes(self) -> ColumnDtypes:
        """Return the dtypes to read a table with: categories as text.

        Numeric columns are left to pandas' inference, so that text in them
        is read, and counted, rather than refused by the reader.
        """
        return {
            column.name: "object"
            for column in self.columns
            if column.kind == "categorical"
        }

    def to_yaml(self) -> str:
        """Return the contract as YAML for people to read, behind a comment header."""
        content = {
            "rows": self.rows,
            "null_rate_margin": self.null_rate_margin,
            "columns": {column.name: column.to_dict() for column in self.columns},
        }
        header = (
            f"# Data contract of a model, learned by train from {self.rows}"
            " training rows (docs/data.md).\n"
        )
        return header + yaml.safe_dump(content, sort_keys=False, allow_unicode=True)

    @classmethod
    def from_yaml(cls, text: str, source: object) -> Contract:
        """Read a contract written by :meth:`to_yaml`.

        Raises
        ------
        DataError
            Naming ``source`` if ``text`` is not such a contract.
        """
        try:
            content = yaml.safe_load(text)
            columns = content["columns"]
            content["columns"] = [{"name": name, **columns[name]} for name in columns]
            return TypeAdapter(cls).validate_python(content)
        except yaml.YAMLError as error:
            problem = first_line(error)
        except (TypeError, KeyError) as error:
            problem = f"no mapping of rows, null_rate_margin and columns ({error})"
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            problem = f"{where}: {first['msg']}"
        raise DataError(f"{source}: not a valid data contract: {problem}")

    def schema(self) -> pandera.DataFrameSchema:
        """Return the pandera schema of the contract's rules, ``null_rate`` aside.

        Columns not in the contract are ignored, and column order does not
        matter.
        """
        columns = {column.name: column.pandera_column() for column in self.columns}
        return pandera.DataFrameSchema(columns, strict=False)

    def check(self, df: pd.DataFrame) -> ContractCheck:
        """Check every row of ``df`` against every rule but ``null_rate``.

        Counts are exact: a row breaking two rules counts in each of them,
        and once among the broken rows. A frame that plainly holds (see
        :meth:`plainly_holds`) is not handed to pandera, whose fixed cost of a
        few milliseconds a call would double the time the service takes to
        score one row; pandera finds and counts the breaks of any other.
        """
        if self.plainly_holds(df):
            return ContractCheck(
                rows=len(df),
                breaks=(),
                nulls=self._nulls(df),
                row_broken=np.zeros(len(df), dtype=bool),
            )
        frame = self._with_plain_missing_values(df.reset_index(drop=True))
        cases = _failure_cases(self.schema(), frame)
        mistyped = set(cases.loc[cases["rule"] == TYPE, "column"])
        if mistyped:
            cases = pd.concat(
                [cases[~cases["column"].isin(mistyped) | (cases["rule"] == TYPE)]]
                + [self._recheck(frame, cases, column) for column in sorted(mistyped)]
            )
        return ContractCheck(
            rows=len(frame),
            breaks=self._breaks(cases, len(frame)),
            nulls=self._nulls(frame),
            row_broken=_row_broken(cases, len(frame)),
        )

    def plainly_holds(self, df: pd.DataFrame) -> bool:
        """Whether ``df`` evidently breaks no rule, by vectorised comparisons alone.

        ``False`` only means "not evidently": a numeric column that pandas did
        not read as numbers, for one, is left to pandera to judge.

        Examples
        --------
        >>> mass = ColumnContract("mass", "numeric", False, 0.0, lower=1.0, upper=9.0)
        >>> contract = Contract((mass,), rows=10, null_rate_margin=0.1)
        >>> contract.plainly_holds(pd.DataFrame({"mass": [1.0, 9.0]}))
        True
        >>> contract.plainly_holds(pd.DataFrame({"mass": [1.0, 9.5]}))
        False
        """
        return all(
            column.name in df and _plainly_holds(column, df[column.name])
            for column in self.columns
        )

    def _nulls(self, frame: pd.DataFrame) -> dict[str, int]:
        """Return the missing values of each contract column present in ``frame``."""
        return {
            column.name: int(frame[column.name].isna().sum())
            for column in self.columns
            if column.name in frame
        }

    def _with_plain_missing_values(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Return ``frame`` with its numeric columns read as text holding NaN.

        A text column (Parquet's, say) spells a missing value ``pd.NA``, which
        pandera cannot make a number of; NaN is missing in any column.
        """
        text = [
            column.name
            for column in self.columns
            if column.kind == "numeric"
            and column.name in frame
            and not pd.api.types.is_numeric_dtype(frame[column.name])
        ]
        plain = {
            name: frame[name].astype(object).where(frame[name].notna(), np.nan)
            for name in text
        }
        return frame.assign(**plain) if plain else frame

    def _recheck(
        self, frame: pd.DataFrame, cases: pd.DataFrame, column: str
    ) -> pd.DataFrame:
        """Return the value rules' failures of ``column`` once its mistyped rows go.

        pandera cannot compare the values of a column that failed coercion,
        so its other rules are checked again on the rows that hold numbers.
        """
        mistyped = cases.loc[(cases["column"] == column) & (cases["rule"] == TYPE)]
        numbers = frame.loc[~frame.index.isin(mistyped["index"]), [column]]
        schema = pandera.DataFrameSchema({column: self.column(column).pandera_column()})
        return _failure_cases(schema, numbers)

    def _breaks(self, cases: pd.DataFrame, rows: int) -> tuple[Break, ...]:
        """Return one exactly counted :class:`Break` per column and rule found."""
        if cases.empty:
            return ()
        failed = dict(iter(cases.groupby(["column", "rule"], sort=False)))
        return tuple(
            self._break(column, rule, failed[column.name, rule], rows)
            for column in self.columns
            for rule in RULES
            if (column.name, rule) in failed
        )

    def _break(
        self, column: ColumnContract, rule: str, failed: pd.DataFrame, rows: int
    ) -> Break:
        expected = column.expected(rule, self.null_rate_margin)
        if rule == MISSING:
            return Break(column.name, rule, rows, expected)
        example = None
        if rule != NULL and not column.personal:
            example = _python_value(failed.sort_values("index")["failure_case"].iloc[0])
        return Break(column.name, rule, failed["index"].nunique(), expected, example)

    def null_rate_breaks(self, rows: int, nulls: Mapping[str, int]) -> list[Break]:
        """Return the ``null_rate`` breaks of a table of ``rows`` with ``nulls``.

        A column breaks the rule when its share of missing values is above its
        training null rate plus the contract's ``null_rate_margin``.
        """
        return [
            Break(
                column.name,
                NULL_RATE,
                nulls[column.name],
                column.expected(NULL_RATE, self.null_rate_margin),
            )
            for column in self.columns
            if rows
            and column.name in nulls
            and nulls[column.name] / rows > column.null_rate + self.null_rate_margin
        ]


class TableChecker:
    """Check a table chunk by chunk, and add up what the chunks broke.

    :meth:`add` each chunk (it returns that chunk's own check, for a caller
    that acts on each), then take the whole table's :meth:`result`.

    Parameters
    ----------
    contract : Contract
        The contract to check against.
    """

    def __init__(self, contract: Contract) -> None:
        self._contract = contract
        self._rows = 0
        self._broken_rows = 0
        self._breaks: dict[tuple[str, str], Break] = {}
        self._nulls: Counter[str] = Counter()

    def add(self, chunk: pd.DataFrame) -> ContractCheck:
        """Check ``chunk``, count its breaks in the table's, and return its check."""
        check = self._contract.check(chunk)
        self._rows += check.rows
        self._broken_rows += check.broken_rows
        self._nulls.update(check.nulls)
        for found in check.breaks:
            key = (found.column, found.rule)
            self._breaks[key] = (
                self._breaks[key].plus(found) if key in self._breaks else found
            )
        return check

    def result(self) -> TableCheck:
        """Return the check of every row added so far, ``null_rate`` included."""
        nulls = dict(self._nulls)
        breaks = [
            *self._breaks.values(),
            *self._contract.null_rate_breaks(self._rows, nulls),
        ]
        order = [column.name for column in self._contract.columns]
        breaks.sort(key=lambda item: (order.index(item.column), RULES.index(item.rule)))
        return TableCheck(self._rows, self._broken_rows, tuple(breaks), nulls)


def check_table(contract: Contract, path: Path, chunk_size: int | None) -> TableCheck:
    """Check every row of the CSV or Parquet file ``path`` against ``contract``.

    The file is read ``chunk_size`` rows at a time (``None``: at once), so
    memory stays bounded whatever its size; the counts are those of the whole
    table.

    Raises
    ------
    DataError
        If the file is missing, unreadable, or has no rows.
    """
    checker = TableChecker(contract)
    for chunk in iter_chunks(path, chunk_size, contract.read_dtypes()):
        if checker.add(chunk).breaks:
            # pandera's error holds the chunk in reference cycles, which the
            # collector could move to its oldest generation, rarely collected:
            # collect the young ones (milliseconds, where a full pass takes
            # a tenth of a second) while the cycles are still there.
            gc.collect(generation=1)
    result = checker.result()
    if result.rows == 0:
        raise DataError(f"{path}: file has a header but no rows")
    return result


def read_contract(path: Path) -> Contract:
    """Read the contract file at ``path``.

    Raises
    ------
    DataError
        If the file cannot be read or is not a contract.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"cannot read data contract {path}: {error}") from error
    return Contract.from_yaml(text, path)


def learn_contract(
    features: pd.DataFrame, data: DataConfig, config: ContractConfig
) -> Contract:
    """Learn the contract of the configured features from the training rows.

    ``features`` are the training rows' features as ``select_features``
    returns them (data/checks.py): numbers, and categories as text.
    """
    kinds: dict[str, Kind] = {
        **dict.fromkeys(data.numeric_features, "numeric"),
        **dict.fromkeys(data.categorical_features, "categorical"),
    }
    columns = tuple(
        _learn_column(
            features[name], kind, name in data.personal_columns, config.range_margin
        )
        for name, kind in kinds.items()
    )
    return Contract(columns, len(features), config.null_rate_margin)


def _learn_column(
    values: pd.Series,
    kind: Kind,
    personal: bool,
    range_margin: float,
) -> ColumnContract:
    null_rate = _rounded(float(values.isna().mean()), NULL_RATE_QUANTUM, ROUND_CEILING)
    column = ColumnContract(
        str(values.name), kind, bool(values.isna().any()), null_rate, personal=personal
    )
    present = values.dropna()
    if personal or present.empty:
        return column
    if kind == "categorical":
        categories = tuple(sorted(present.astype(str).unique()))
        return replace(column, categories=categories)
    minimum, maximum = float(present.min()), float(present.max())
    lower, upper = widened(minimum, maximum, range_margin)
    return replace(column, minimum=minimum, maximum=maximum, lower=lower, upper=upper)


def widened(minimum: float, maximum: float, share: float) -> tuple[float, float]:
    """Return ``minimum`` and ``maximum`` widened by ``share`` of their distance.

    Each bound moves out by the margin, then outwards again to a round number:
    two significant digits of the margin. Rounding never narrows the range.

    Examples
    --------
    >>> widened(32.1, 59.6, 0.1)
    (29.3, 62.4)
    >>> widened(2700.0, 6300.0, 0.1)
    (2340.0, 6660.0)
    >>> widened(5.0, 5.0, 0.1)
    (5.0, 5.0)
    """
    margin = share * (maximum - minimum)
    if margin == 0:
        return minimum, maximum
    quantum = Decimal(1).scaleb(math.floor(math.log10(margin)) - 1)
    return (
        _rounded(minimum - margin, quantum, ROUND_FLOOR),
        _rounded(maximum + margin, quantum, ROUND_CEILING),
    )


def _rounded(value: float, quantum: Decimal, rounding: str) -> float:
    """Return ``value`` rounded to a multiple of ``quantum`` in the ``rounding`` way."""
    try:
        return float(Decimal(repr(value)).quantize(quantum, rounding=rounding))
    except InvalidOperation:  # more digits than a decimal holds: keep it exact
        return value


def _failure_cases(
    schema: pandera.DataFrameSchema, frame: pd.DataFrame
) -> pd.DataFrame:
    """Return what ``frame`` breaks of ``schema``: column, rule, index, failure_case.

    The index of a missing column is ``None``; value rules that pandera could
    not evaluate (on a column that failed coercion) are left out.
    """
    try:
        schema.validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as errors:
        cases = errors.failure_cases
    else:
        return pd.DataFrame(columns=_CASE_COLUMNS)
    rules = cases["check"].map(_rule_of)
    missing = rules == MISSING
    cases = cases.assign(
        rule=rules, column=cases["column"].where(~missing, cases["failure_case"])
    )
    # A coercion failure is reported twice: once coercing, once checking the dtype.
    kept = cases.loc[missing | cases["index"].notna(), _CASE_COLUMNS]
    unique: pd.DataFrame = kept.drop_duplicates(["column", "rule", "index"])
    return unique


def _plainly_holds(column: ColumnContract, values: pd.Series) -> bool:
    """Whether ``values`` evidently keep every rule of ``column`` but ``null_rate``."""
    missing = values.isna()
    if missing.any() and not column.nullable:
        return False
    present = values[~missing]
    if column.kind == "categorical":
        return column.categories is None or bool(
            present.astype(str).isin(column.categories).all()
        )
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return False
    if column.lower is None or column.upper is None:
        return True
    numbers = present.to_numpy(dtype=np.float64)
    return bool(((numbers >= column.lower) & (numbers <= column.upper)).all())


def _rule_of(check: object) -> str | None:
    """Return the contract rule that pandera's ``check`` evaluates."""
    name = str(check)
    prefixes = {
        "column_in_dataframe": MISSING,
        "coerce_dtype": TYPE,
        "dtype(": TYPE,
        "not_nullable": NULL,
        "in_range": RANGE,
        "isin": CATEGORY,
    }
    return next(
        (rule for prefix, rule in prefixes.items() if name.startswith(prefix)), None
    )


def _row_broken(cases: pd.DataFrame, rows: int) -> NDArray[np.bool_]:
    """Return whether each of ``rows`` rows breaks a rule in ``cases``."""
    broken = np.zeros(rows, dtype=bool)
    if (cases["rule"] == MISSING).any():
        broken[:] = True
    else:
        broken[cases["index"].to_numpy(dtype=np.int64)] = True
    return broken


def _python_value(value: object) -> object:
    """Return ``value`` as a plain Python value, so that it prints and serialises."""
    return value.item() if isinstance(value, np.generic) else value


def _number(value: float | None) -> str:
    """Format a bound without a needless ``.0`` or exponent."""
    return "none" if value is None else f"{value:.15g}"


def _listed(values: Sequence[str]) -> str:
    """Name the first :data:`MAX_LISTED_VALUES` of ``values`` and count the rest."""
    named = ", ".join(values[:MAX_LISTED_VALUES])
    more = len(values) - MAX_LISTED_VALUES
    return f"{named} and {more} more" if more > 0 else named
