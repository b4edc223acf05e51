"""The shadow log's format: a challenger's answers next to the champion's.

``serve --challenger`` writes one Parquet file per batch of shadow-scored rows;
``promote`` reads how often the challenger agreed with the champion. Each row
is one input row scored by both models: the columns below, without the input
itself (the prediction log has it, under the same request ID and row).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError, first_line
from .log_format import log_file_name, log_files

REQUEST_ID = "request_id"
"""The request's ``X-Request-ID``, as in the prediction log."""
ROW = "row"
"""Position of the row in its request, from 0."""
CHAMPION_PREDICTION = "champion_prediction"
"""The answer the client got."""
CHALLENGER_PREDICTION = "challenger_prediction"
"""The challenger's answer for the same row, never sent."""
AGREE = "agree"
"""Whether the two answers agree (see :func:`predictions_agree`)."""
CHAMPION_VERSION = "champion_version"
"""The registry version of the champion; missing for a model given by path."""
CHALLENGER_VERSION = "challenger_version"
"""The registry version of the challenger; missing for a model given by path."""
CHALLENGER_URI = "challenger_uri"
"""Where the challenger was loaded from."""
SCORED_AT = "scored_at"
"""When the champion scored the request (UTC)."""
SHADOW_COLUMNS = (
    REQUEST_ID,
    ROW,
    CHAMPION_PREDICTION,
    CHALLENGER_PREDICTION,
    AGREE,
    CHAMPION_VERSION,
    CHALLENGER_VERSION,
    CHALLENGER_URI,
    SCORED_AT,
)
"""The columns of every shadow log file, in order."""

FILE_PREFIX = "shadow-"


def shadow_files(directory: Path) -> list[Path]:
    """Return the complete shadow log files in ``directory``, oldest first."""
    return log_files(directory, FILE_PREFIX)


def shadow_file_name(stamp: str, process_id: int) -> str:
    """Return the name of a shadow log file started at ``stamp`` by ``process_id``.

    Examples
    --------
    >>> shadow_file_name("20261130T081500123456", 42)
    'shadow-20261130T081500123456-42.parquet'
    """
    return log_file_name(stamp, process_id, FILE_PREFIX)


def predictions_agree(
    champion: np.ndarray[Any, Any],
    challenger: np.ndarray[Any, Any],
    *,
    numeric: bool,
    tolerance: float,
) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Return, row by row, whether the challenger's answer agrees with the champion's.

    Classes agree when they are equal. Numbers agree when the challenger's is
    within ``tolerance`` times the champion's magnitude of it.

    Examples
    --------
    >>> champion, challenger = np.array([100.0, 100.0]), np.array([104.0, 94.0])
    >>> predictions_agree(champion, challenger, numeric=True, tolerance=0.05).tolist()
    [True, False]
    >>> predictions_agree(
    ...     np.array(["Adelie", "Gentoo"]), np.array(["Adelie", "Chinstrap"]),
    ...     numeric=False, tolerance=0.05,
    ... ).tolist()
    [True, False]
    """
    if not numeric:
        return np.asarray(champion.astype(str) == challenger.astype(str))
    champion = champion.astype("float64")
    gap = np.abs(challenger.astype("float64") - champion)
    return np.asarray(gap <= tolerance * np.abs(champion))


@dataclass(frozen=True)
class Agreement:
    """How often a challenger agreed with the champion in the shadow log.

    Attributes
    ----------
    rows : int
        Rows both models scored.
    agreeing : int
        Rows on which they agreed.
    champion_versions : tuple of str
        The registry versions of the champions it was compared with.
    """

    rows: int
    agreeing: int
    champion_versions: tuple[str, ...]

    @property
    def rate(self) -> float:
        """The share of rows on which the two models agreed."""
        return self.agreeing / self.rows

    def describe(self, challenger_version: str) -> str:
        """Return one sentence saying how often ``challenger_version`` agreed.

        Examples
        --------
        >>> Agreement(1234, 1200, ("3",)).describe("4")
        'Version 4 agreed with version 3 on 97.2 % of 1,234 shadow-scored rows.'
        """
        if not self.champion_versions:
            champion = "the champion"
        elif len(self.champion_versions) == 1:
            champion = f"version {self.champion_versions[0]}"
        else:
            champion = "versions " + ", ".join(self.champion_versions)
        return (
            f"Version {challenger_version} agreed with {champion} on"
            f" {self.rate * 100:.1f} % of {self.rows:,} shadow-scored rows."
        )


def read_agreement(
    directory: Path,
    challenger_version: str | None = None,
    challenger_uri: str | None = None,
) -> Agreement | None:
    """Return how often the challenger agreed with the champion in ``directory``.

    Only the rows of the given challenger version and URI count (all rows
    when neither is given). Returns None when no row matches, the directory
    included missing.

    Raises
    ------
    DataError
        If a file of the log is unreadable or lacks the log's columns.
    """
    wanted = [AGREE, CHAMPION_VERSION, CHALLENGER_VERSION, CHALLENGER_URI]
    rows = agreeing = 0
    champion_versions: set[str] = set()
    for path in shadow_files(directory):
        try:
            table = pd.read_parquet(path, columns=wanted)
        except (OSError, ValueError, KeyError) as error:
            raise DataError(
                f"cannot read the shadow log file {path}: {first_line(error)}"
            ) from error
        if challenger_version is not None:
            table = table[table[CHALLENGER_VERSION] == challenger_version]
        if challenger_uri is not None:
            table = table[table[CHALLENGER_URI] == challenger_uri]
        rows += len(table)
        agreeing += int(table[AGREE].sum())
        champion_versions.update(table[CHAMPION_VERSION].dropna().astype(str))
    if rows == 0:
        return None
    return Agreement(rows, agreeing, tuple(sorted(champion_versions, key=_version_key)))


def _version_key(version: str) -> tuple[int, str]:
    """Sort registry versions by number, anything else after them."""
    return (int(version), "") if version.isdigit() else (2**63, version)
