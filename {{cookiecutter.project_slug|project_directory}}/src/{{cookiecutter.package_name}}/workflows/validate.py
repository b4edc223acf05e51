"""Validation of a table against the data contract stored with a model."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import Settings
from ..data import table_format
from ..data.contract import TableCheck, check_table
from ..errors import DataError, ModelError
from ..tracking.artifacts import model_contract
from ..tracking.connection import connect
from ..tracking.registry import champion_uri

logger = logging.getLogger(__name__)

DEFAULT_CHUNK_SIZE = 100_000


@dataclass(frozen=True)
class Validation:
    """A table checked against the data contract of a model.

    Attributes
    ----------
    model_uri : str
        The model whose contract the table was checked against.
    check : TableCheck
        What the table broke, counted over all its rows.
    """

    model_uri: str
    check: TableCheck

    def verdict(self) -> str:
        """Return one line saying how many rows were checked and what they broke."""
        check = self.check
        checked = f"Checked {check.rows} rows against the data contract of"
        if check.holds:
            return f"{checked} {self.model_uri}: it holds."
        return (
            f"{checked} {self.model_uri}: {len(check.breaks)} rule(s) broken,"
            f" {check.broken_rows} row(s) breaking at least one."
        )

    def as_dict(self) -> dict[str, Any]:
        """Return the counts and every break, with its example, as JSON values."""
        return {
            "model": self.model_uri,
            "rows": self.check.rows,
            "broken_rows": self.check.broken_rows,
            "holds": self.check.holds,
            "breaks": [
                {
                    "column": found.column,
                    "rule": found.rule,
                    "hard": found.hard,
                    "rows": found.rows,
                    "expected": found.expected,
                    "example": found.example,
                }
                for found in self.check.breaks
            ],
        }


def validate(
    settings: Settings,
    path: Path,
    model_uri: str | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> Validation:
    """Check every row of ``path`` against the contract of a model, in chunks.

    The model is ``model_uri``, or else the configured champion. The table is
    read ``chunk_size`` rows at a time, so memory stays bounded.

    Raises
    ------
    DataError
        If the file is missing, unreadable or has no rows.
    ModelError
        If there is no such model, or it was trained before data contracts.
    """
    table_format(path)
    if not path.is_file():  # before the model is fetched, which can take seconds
        raise DataError(f"data file not found: {path}")
    connect(settings.tracking)
    uri = model_uri or champion_uri(settings.tracking)
    contract = model_contract(uri)
    if contract is None:
        raise ModelError(
            f"model {uri!r} has no data contract: it was trained before"
            " contracts existed; train it again to check data against it"
        )
    logger.info("Checking %s against the data contract of %s", path, uri)
    return Validation(uri, check_table(contract, path, chunk_size))
