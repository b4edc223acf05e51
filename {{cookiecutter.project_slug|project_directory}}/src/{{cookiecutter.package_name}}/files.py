"""Writing files so that no reader ever sees half of one, and no input is lost.

Every result the project writes (predictions, model cards, saved runs) goes to
a hidden temporary path beside its destination first, and takes the final name
in one rename once it is complete: a failure leaves the old file, or none,
never a partial one. Before a command reads anything, its output path is
checked: it may not name a directory, or a file the command reads.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import DataError, ProjectError

__all__ = [
    "atomic_path",
    "check_output_path",
    "is_same_file",
    "partial_path",
    "write_text_atomically",
]


def check_output_path(output: Path, inputs: Iterable[Path] = ()) -> None:
    """Raise unless ``output`` can be written without destroying anything read.

    Call it before reading any input: a refused command then leaves every
    file as it was.

    Raises
    ------
    DataError
        If ``output`` is a directory, its directory does not exist, or it is
        one of ``inputs`` under any name: the same path, a symbolic or hard
        link to it, or a path that resolves to it.
    """
    if output.is_dir():
        raise DataError(f"{output} is a directory; give a file name to write")
    if not output.parent.is_dir():
        raise DataError(f"output directory does not exist: {output.parent}")
    for source in inputs:
        if is_same_file(output, source):
            alias = "" if output == source else f" ({source})"
            raise DataError(
                f"{output} is an input of this command{alias};"
                " write the output to another file"
            )


def is_same_file(first: Path, second: Path) -> bool:
    """Return whether ``first`` and ``second`` name the same file.

    Existing files are compared by device and inode, so links count; paths
    that do not exist yet are compared once resolved.

    Examples
    --------
    >>> is_same_file(Path("a/../b.csv"), Path("b.csv"))
    True
    """
    if first.exists() and second.exists():
        return os.path.samefile(first, second)
    return first.resolve() == second.resolve()


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
