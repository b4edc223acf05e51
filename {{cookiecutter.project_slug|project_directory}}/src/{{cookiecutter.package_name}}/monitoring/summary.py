"""Current data summarised chunk by chunk, in memory bounded whatever its size.

Rows and missing values are counted exactly, and so are the contract's
breaks (by the contract's ``TableChecker``); the drift tests and live metrics
run on uniform samples of at most ``SAMPLE_ROWS`` rows (see ``sample``),
which hold every row of smaller data.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..data.contract import Contract, TableCheck, TableChecker
from .drift import Kind
from .log_format import PREDICTION
from .sample import SAMPLE_ROWS, Reservoir

LABEL = "label"
"""Column of the true value in the sample of labelled rows."""


class CurrentSummary:
    """What ``monitor`` keeps of the current data: counts and bounded samples.

    Parameters
    ----------
    kinds : mapping of str to {"numeric", "categorical"}
        The features to watch and how each is compared.
    contract : Contract or None
        The contract each chunk is checked against; ``None``: not checked.
    seed : int
        Seeds the samples.
    extra_columns : sequence of str, default ()
        Columns of the chunks kept in the sample besides the features and
        the prediction (the prediction log's latency and request ID).
    sample_rows : int, default SAMPLE_ROWS
        Most rows of each sample.
    """

    def __init__(
        self,
        kinds: Mapping[str, Kind],
        contract: Contract | None,
        seed: int,
        extra_columns: Sequence[str] = (),
        sample_rows: int = SAMPLE_ROWS,
    ) -> None:
        self.kinds = dict(kinds)
        self._checker = None if contract is None else TableChecker(contract)
        self.extra_columns = list(extra_columns)
        self.rows = 0
        self.invalid_predictions = 0
        self.missing: Counter[str] = Counter()
        self.sample = Reservoir(sample_rows, seed)
        self.labelled = Reservoir(sample_rows, seed + 1)

    def add(
        self, chunk: pd.DataFrame, predictions: pd.Series, labels: pd.Series | None
    ) -> None:
        """Count and sample one chunk, with its predictions and any true values.

        ``labels`` holds the true value of each row of ``chunk``, missing
        where a row has none.
        """
        if self._checker is not None and self._checker.add(chunk).breaks:
            # pandera's error keeps the chunk in reference cycles: free it now.
            gc.collect()
        features = self._features(chunk)
        self.rows += len(chunk)
        self.invalid_predictions += count_invalid(predictions)
        self.missing.update(
            {str(name): int(count) for name, count in features.isna().sum().items()}
        )
        predictions = predictions.set_axis(chunk.index)
        extras = chunk[[name for name in self.extra_columns if name in chunk]]
        self.sample.add(features.join(extras).assign(**{PREDICTION: predictions}))
        if labels is not None:
            known = labels.notna().to_numpy()
            pairs = {
                PREDICTION: predictions.to_numpy()[known],
                LABEL: labels.to_numpy()[known],
            }
            self.labelled.add(pd.DataFrame(pairs))

    def breaks(self) -> TableCheck | None:
        """Return the contract check of every row added; ``None``: no contract."""
        return None if self._checker is None else self._checker.result()

    def null_rates(self) -> dict[str, float]:
        """Return each feature's share of missing values over every row added."""
        return {
            name: self.missing[name] / self.rows if self.rows else 0.0
            for name in self.kinds
        }

    def _features(self, chunk: pd.DataFrame) -> pd.DataFrame:
        """Return the watched features of ``chunk``, numbers as floats.

        A value that does not read as a number counts as missing here; the
        contract's type rule counts it as a break. An absent feature is all
        missing.
        """
        columns = {}
        for name, kind in self.kinds.items():
            values = chunk[name] if name in chunk else pd.Series(np.nan, chunk.index)
            if kind == "numeric":
                columns[name] = pd.to_numeric(values, errors="coerce").astype("float64")
            else:
                columns[name] = values.astype(object).where(values.notna(), np.nan)
        return pd.DataFrame(columns, index=chunk.index)


def count_invalid(predictions: pd.Series) -> int:
    """Count the predictions that are missing or, for numbers, infinite.

    A sound model answers every row with a label or a finite number; any
    other answer is a numerical failure, whatever the inputs were.

    Examples
    --------
    >>> count_invalid(pd.Series([1.5, np.nan, np.inf, -2.0]))
    2
    >>> count_invalid(pd.Series(["Adelie", None]))
    1
    """
    invalid = predictions.isna().to_numpy()
    if pd.api.types.is_numeric_dtype(predictions):
        invalid = invalid | np.isinf(predictions.to_numpy(dtype=np.float64))
    return int(invalid.sum())
