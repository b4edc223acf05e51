"""Data: reading tables, checking them at the door, and splitting them for training.

Nothing here knows about models or tracking: the layers above hand in a
configuration and get checked data frames back.
"""

from .checks import check_columns, check_finite, check_numeric, select_features
from .dataset import (
    Dataset,
    Split,
    check_split_size,
    load_dataset,
    rows_needed,
    split_dataset,
    split_sizes,
)
from .tables import (
    ChunkWriter,
    ColumnDtypes,
    as_text,
    count_rows,
    iter_chunks,
    read_table,
    table_format,
    with_dtypes,
)

__all__ = [
    "ChunkWriter",
    "ColumnDtypes",
    "Dataset",
    "Split",
    "as_text",
    "check_columns",
    "check_finite",
    "check_numeric",
    "check_split_size",
    "count_rows",
    "iter_chunks",
    "load_dataset",
    "read_table",
    "rows_needed",
    "select_features",
    "split_dataset",
    "split_sizes",
    "table_format",
    "with_dtypes",
]
