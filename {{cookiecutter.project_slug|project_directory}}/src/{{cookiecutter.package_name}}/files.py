"""Writing files so that no reader ever sees half of one.

Every result the project writes (predictions, model cards, saved runs) goes to
a hidden temporary path beside its destination first, and takes the final name
in one rename once it is complete: a failure leaves the old file, or none,
never a partial one.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import ProjectError

__all__ = ["atomic_path", "partial_path", "write_text_atomically"]


def partial_path(path: Path) -> Path:
    """Return the hidden temporary path beside ``path`` that is written first.

    Examples
    --------
    >>> partial_path(Path("out/predictions.csv")).as_posix()
    'out/.predictions.csv.partial'
    """
    return path.with_name(f".{path.name}.partial")


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path to write; when the block succeeds it becomes ``path``.

    The temporary file (or directory) is removed if the block fails, so
    ``path`` is either replaced whole or left as it was.

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "result.txt"
    >>> with atomic_path(target) as temporary:
    ...     _ = temporary.write_text("done", encoding="utf-8")
    >>> target.read_text(encoding="utf-8")
    'done'
    """
    temporary = partial_path(path)
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        _remove(temporary)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def write_text_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file, so it is never partial.

    Raises
    ------
    ProjectError
        If the file cannot be written.
    """
    try:
        with atomic_path(path) as temporary:
            temporary.write_text(text, encoding="utf-8")
    except OSError as error:
        raise ProjectError(f"cannot write {path}: {error.strerror}") from error
