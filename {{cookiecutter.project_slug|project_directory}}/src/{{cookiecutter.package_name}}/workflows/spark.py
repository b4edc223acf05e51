"""Batch prediction on Spark: tables of any size scored by MLflow's ``spark_udf``.

The engine of ``predict --engine spark``, and a library function for a
notebook or job that already has a Spark session (Databricks, EMR,
Dataproc). PySpark comes with the project's optional ``spark`` extra and is
imported only inside the functions that need it. Unlike the pandas engine,
this one does not check the rows against the model's data contract.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import socket
import sys
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature, get_model_info
from mlflow.pyfunc import spark_udf
from mlflow.types import DataType

from ..config import Settings
from ..data import table_format
from ..errors import ConfigError, DataError, ModelError, first_line
from ..files import is_same_file, partial_path
from ..tracking.connection import connect
from ..tracking.registry import champion_uri, registered_version
from .predict import PREDICTION_COLUMN, refuse_unwritten

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

logger = logging.getLogger(__name__)

DEFAULT_MASTER = "local[*]"
APP_NAME = "{{ cookiecutter.project_slug }}"
MASTER_TIMEOUT_SECONDS = 5.0
DEFAULT_MASTER_PORT = 7077
LOOPBACK = "127.0.0.1"
DRIVER_HOST = "spark.driver.host"
# What pandas reads as a missing value in a CSV file, so that both engines
# see the same table; Spark alone would read only an empty field as missing.
CSV_MISSING_VALUES = (
    "",
    "#N/A",
    "#N/A N/A",
    "#NA",
    "-1.#IND",
    "-1.#QNAN",
    "-NaN",
    "-nan",
    "1.#IND",
    "1.#QNAN",
    "<NA>",
    "N/A",
    "NA",
    "NULL",
    "NaN",
    "None",
    "n/a",
    "nan",
    "null",
)
# Hidden columns that remember where each input row came from, to write the
# predictions in the input's order.
_ROW_ORDER = ("__source_file", "__source_block", "__source_row")
# What Hadoop's file systems read as a glob pattern in a path.
GLOB_CHARACTERS = frozenset("*?[]{}\\")
# Spark writes this file last into an output directory it completed.
_SPARK_DONE_FILE = "_SUCCESS"


def spark_session(
    master: str = DEFAULT_MASTER, conf: Mapping[str, str] | None = None
) -> SparkSession:
    """Return a Spark session on ``master`` with ``conf``, once Spark can run.

    With a local master, Spark's Python workers run this interpreter (unless
    ``PYSPARK_PYTHON`` names another), so they import the same packages.

    Raises
    ------
    ConfigError
        If PySpark is not installed, Java is missing, a ``spark://`` master
        does not answer, or the session cannot start.
    """
    require_pyspark()
    require_java()
    check_master(master)
    from pyspark.errors import PySparkException  # noqa: PLC0415
    from pyspark.sql import SparkSession  # noqa: PLC0415

    if master.startswith("local"):
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    else:
        warn_if_driver_unreachable(conf or {})
    builder = SparkSession.builder.master(master).appName(APP_NAME)
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    try:
        with _without_pandas_version_warning():
            return builder.getOrCreate()
    except PySparkException as error:
        raise ConfigError(
            f"cannot start Spark on {master}: {first_line(error)}"
        ) from error


def warn_if_driver_unreachable(conf: Mapping[str, str]) -> None:
    """Log a WARNING if executors on other machines could not reach this driver.

    pandera, when PySpark is installed, sets ``SPARK_LOCAL_IP`` to the
    loopback address if it is unset; the driver then listens there alone.
    """
    if os.environ.get("SPARK_LOCAL_IP") == LOOPBACK and DRIVER_HOST not in conf:
        logger.warning(
            "SPARK_LOCAL_IP is %s: executors on other machines cannot reach"
            " this driver; set SPARK_LOCAL_IP, or --spark-conf %s=ADDRESS, to"
            " this machine's address",
            LOOPBACK,
            DRIVER_HOST,
        )


def require_pyspark() -> None:
    """Raise ``ConfigError`` unless PySpark can be imported."""
    if importlib.util.find_spec("pyspark") is None:
        raise ConfigError(
            "the spark engine needs PySpark: install the project's spark extra:"
            " uv sync --extra spark"
        )


def require_java() -> Path:
    """Return the ``java`` that Spark will start: ``JAVA_HOME``'s, else the PATH's.

    Raises
    ------
    ConfigError
        If there is none.
    """
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        java = Path(java_home, "bin", "java")
        if java.is_file():
            return java
        where = f"JAVA_HOME is {java_home}, which has no bin/java"
    else:
        found = shutil.which("java")
        if found is not None:
            return Path(found)
        where = "no java on PATH and JAVA_HOME is not set"
    raise ConfigError(
        f"the spark engine needs Java 17 or newer: none found ({where});"
        " install a JDK or set JAVA_HOME"
    )


def check_master(master: str, timeout: float = MASTER_TIMEOUT_SECONDS) -> None:
    """Raise ``ConfigError`` unless a ``spark://`` master accepts a connection.

    A standalone master may list several hosts (``spark://a:7077,b:7077``):
    one answering is enough. Other masters (``local``, ``yarn``, ``k8s://``)
    are left to Spark.

    Raises
    ------
    ConfigError
        If ``master`` is a malformed ``spark://`` URL, or no host of it
        accepts a TCP connection within ``timeout`` seconds.
    """
    if not master.startswith("spark://"):
        return
    problem = "no host given"
    for host, port in master_addresses(master):
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return
        except OSError as error:
            problem = (error.strerror or str(error)).lower()
    raise ConfigError(f"cannot reach the Spark master {master}: {problem}")


def master_addresses(master: str) -> list[tuple[str, int]]:
    """Return the host and port of each master of a ``spark://`` URL.

    Examples
    --------
    >>> master_addresses("spark://a:7077,b")
    [('a', 7077), ('b', 7077)]

    Raises
    ------
    ConfigError
        If a port is not a number.
    """
    addresses = []
    for address in master.removeprefix("spark://").split(","):
        host, _, port = address.strip().rpartition(":")
        if not host:
            host, port = port, str(DEFAULT_MASTER_PORT)
        if not port.isdigit():
            raise ConfigError(f"not a Spark master URL: {master}")
        addresses.append((host, int(port)))
    return [(host, port) for host, port in addresses if host]


def predict_with_spark(
    settings: Settings,
    model_uri: str | None,
    input_path: str,
    output_path: str,
    *,
    keep_columns: Sequence[str] = (),
    master: str = DEFAULT_MASTER,
    conf: Mapping[str, str] | None = None,
) -> int:
    """Predict ``input_path`` into ``output_path`` in a Spark session of its own.

    The model is ``model_uri`` or the configured champion. The paths are
    checked before the session starts, which takes seconds.

    Returns
    -------
    int
        The number of predictions written.

    Raises
    ------
    ProjectError
        As :func:`predict_table` and :func:`spark_session` do.
    """
    check_paths(input_path, output_path)
    refuse_unwritten(keep_columns, settings.data.unwritten_columns)
    uri = resolved_model_uri(settings, model_uri)
    spark = spark_session(master, conf)
    try:
        return predict_table(
            spark,
            uri,
            input_path,
            output_path,
            keep_columns=keep_columns,
            unwritten=settings.data.unwritten_columns,
        )
    finally:
        spark.stop()


def resolved_model_uri(settings: Settings, model_uri: str | None) -> str:
    """Return ``model_uri`` (or the champion's) as ``models:/name/version``.

    Executors load the model after the driver has chosen it: an alias moved
    in between must not give them another version. A URI that names no
    registered version (a run, a path) is returned as it is.

    Raises
    ------
    ModelError
        If the alias cannot be resolved.
    """
    client = connect(settings.tracking)
    uri = model_uri or champion_uri(settings.tracking)
    found = registered_version(client, uri)
    return uri if found is None else f"models:/{found[0]}/{found[1]}"


def predict_table(
    spark: SparkSession,
    model_uri: str,
    input_path: str,
    output_path: str,
    *,
    keep_columns: Sequence[str] = (),
    unwritten: Sequence[str] = (),
) -> int:
    """Write a prediction for every row of the table at ``input_path``.

    The input is a CSV (with a header) or Parquet table: one file, or a
    directory of them, on any file system Spark reads. Its format follows
    the suffix of the path, or of a local directory's files. The output is a
    directory of part files, in the format its suffix names, with the
    ``keep_columns`` then the prediction, in the input's row order. A local
    output is written beside its destination and moved into place once
    complete, so a failure never leaves a partial result.

    Returns
    -------
    int
        The number of predictions written.

    Raises
    ------
    DataError
        If a path has no known format, the output would replace the input
        or a directory Spark did not write, the input lacks a column the
        model or ``keep_columns`` needs, a kept column is ``unwritten``, or
        a value cannot be read or scored.
    ModelError
        If the model cannot be loaded.
    """
    input_format, output_format = check_paths(input_path, output_path)
    refuse_unwritten(keep_columns, unwritten)
    signature = model_signature(model_uri)
    with spark_errors(input_path):
        table = _read_table(spark, input_path, input_format)
    inputs = list(signature.inputs.input_names())
    missing = [name for name in [*inputs, *keep_columns] if name not in table.columns]
    if missing:
        raise DataError(f"{input_path}: missing column(s) {', '.join(missing)}")
    logger.warning(
        "the spark engine does not check the rows against the model's data"
        " contract; check a sample with: %s validate",
        APP_NAME,
    )
    scored = _scored(spark, table, model_uri, signature, keep_columns)
    with spark_errors(input_path):
        return _write_table(scored, output_path, output_format)


def check_paths(input_path: str, output_path: str) -> tuple[str, str]:
    """Return the formats of the input and output tables, once both are usable.

    Raises
    ------
    DataError
        If a format cannot be told, the local input does not exist, or the
        local output would replace the input or anything but an earlier
        Spark output, or lies in a missing directory.
    """
    output_format = table_format(Path(PurePosixPath(urlsplit(output_path).path).name))
    input_format = location_format(input_path)
    local_output = local_path(output_path)
    if local_output is not None:
        check_local_output(local_output, local_path(input_path))
    return input_format, output_format


def location_format(path: str) -> str:
    """Return ``"csv"`` or ``"parquet"`` for a table that is a file or a directory.

    The suffix of the path decides; without one, the suffix of a local
    directory's data files.

    Examples
    --------
    >>> location_format("s3://lake/scoring/penguins.parquet")
    'parquet'

    Raises
    ------
    DataError
        If a local input does not exist, or its format cannot be told.
    """
    name = PurePosixPath(urlsplit(path).path).name
    local = local_path(path)
    if local is not None and not local.exists():
        raise DataError(f"data file not found: {path}")
    if Path(name).suffix:
        return table_format(Path(name))
    if local is not None and local.is_dir():
        formats = {table_format(file) for file in data_files(local)}
        if len(formats) == 1:
            return formats.pop()
    raise DataError(
        f"{path}: cannot tell the table's format; name it .csv or .parquet,"
        " or give a directory holding only .csv or only .parquet files"
    )


def data_files(directory: Path) -> Iterator[Path]:
    """Yield the files of ``directory`` that Spark reads: not hidden, not ``_*``."""
    for path in directory.iterdir():
        if path.is_file() and not path.name.startswith((".", "_")):
            yield path


def local_path(path: str) -> Path | None:
    """Return ``path`` as a local path, or ``None`` for another file system.

    Examples
    --------
    >>> local_path("file:///data/in.csv")
    PosixPath('/data/in.csv')
    >>> local_path("s3://lake/in.csv") is None
    True
    """
    parts = urlsplit(path)
    if parts.scheme == "file":
        return Path(parts.path)
    return Path(path) if not parts.scheme else None


def check_local_output(output: Path, local_input: Path | None) -> None:
    """Raise ``DataError`` unless ``output`` can be written as a Spark output.

    An existing output is replaced only if Spark wrote it (it holds
    ``_SUCCESS``): anything else might be data nobody wants to lose.
    """
    if not output.parent.is_dir():
        raise DataError(f"output directory does not exist: {output.parent}")
    if local_input is not None and _overlaps(output, local_input):
        raise DataError(
            f"{output} is the input of this command ({local_input}) or holds it;"
            " write the output elsewhere"
        )
    if output.exists() and not (output / _SPARK_DONE_FILE).is_file():
        raise DataError(
            f"{output} exists and is not an earlier Spark output; remove it"
            " or give another name"
        )


def _overlaps(output: Path, source: Path) -> bool:
    """Return whether ``output`` is ``source``, or one lies inside the other."""
    if is_same_file(output, source):
        return True
    output, source = output.resolve(), source.resolve()
    return output.is_relative_to(source) or source.is_relative_to(output)


def model_signature(model_uri: str) -> ModelSignature:
    """Return the MLflow signature of the model at ``model_uri``.

    Raises
    ------
    ModelError
        If there is no model there, or it has no signature.
    """
    try:
        signature: ModelSignature | None = get_model_info(model_uri).signature
    except (MlflowException, OSError) as error:
        raise ModelError(
            f"cannot read model {model_uri!r}: {first_line(error)}"
        ) from error
    if signature is None:
        raise ModelError(f"model {model_uri!r} was logged without a signature")
    return signature


def _read_table(spark: SparkSession, path: str, file_format: str) -> DataFrame:
    """Return the table at ``path`` with hidden columns that record its row order.

    A CSV file is read with its header and every column as text, with the
    values pandas reads as missing made null.
    """
    from pyspark.sql import functions  # noqa: PLC0415

    reader = spark.read.format(file_format)
    if file_format == "csv":
        reader = reader.option("header", True)
    table = reader.load(path)
    if file_format == "csv":
        table = table.select(*(_missing_as_null(table, name) for name in table.columns))
    source_file, source_block, source_row = _ROW_ORDER
    return table.select(
        "*",
        functions.col("_metadata.file_path").alias(source_file),
        functions.col("_metadata.file_block_start").alias(source_block),
        functions.monotonically_increasing_id().alias(source_row),
    )


def _missing_as_null(table: DataFrame, name: str) -> Column:
    from pyspark.sql import functions  # noqa: PLC0415

    column = table[name]
    is_missing = column.isin(list(CSV_MISSING_VALUES))
    return functions.when(is_missing, None).otherwise(column).alias(name)


def _scored(
    spark: SparkSession,
    table: DataFrame,
    model_uri: str,
    signature: ModelSignature,
    keep_columns: Sequence[str],
) -> DataFrame:
    """Return ``keep_columns`` and the model's prediction for each row, in order."""
    from pyspark.sql import functions  # noqa: PLC0415

    try:
        with _without_pandas_version_warning():
            predict = spark_udf(
                spark,
                model_uri,
                result_type=prediction_type(signature),
                env_manager="local",
            )
    except (MlflowException, OSError) as error:
        raise ModelError(
            f"cannot load model {model_uri!r}: {first_line(error)}"
        ) from error
    # Sorted before scoring, so that the sort's sampling pass reads the
    # input alone rather than scoring it twice.
    ordered = table.orderBy(*_ROW_ORDER)
    inputs = [
        ordered[spec.name].cast(spec.type.to_spark()).alias(spec.name)
        for spec in signature.inputs.inputs
    ]
    return ordered.select(
        *(ordered[name] for name in keep_columns),
        predict(functions.struct(*inputs)).alias(PREDICTION_COLUMN),
    )


def prediction_type(signature: ModelSignature) -> str:
    """Return the Spark type of the model's predictions, from its output schema.

    Labels are text, as the pandas engine writes them; anything else is a
    number.
    """
    outputs = [] if signature.outputs is None else signature.outputs.inputs
    if not outputs:
        return "double"
    # A column spec has an MLflow type, a tensor spec (an array output) a NumPy one.
    output_type = outputs[0].type
    kind = getattr(output_type, "kind", None)
    if output_type == DataType.string or kind in {"O", "U", "S"}:
        return "string"
    if output_type in {DataType.long, DataType.integer} or kind in {"i", "u"}:
        return "long"
    if output_type == DataType.boolean or kind == "b":
        return "boolean"
    return "double"


def _write_table(table: DataFrame, output_path: str, file_format: str) -> int:
    """Write ``table`` as a directory of part files; return its number of rows.

    A local output is written into a hidden sibling directory and replaces
    ``output_path`` once complete; elsewhere, Spark's own commit protocol
    applies.

    Raises
    ------
    DataError
        If ``table`` has no rows; no local output is written then.
    """
    local = local_path(output_path)
    if local is None:
        return _write(table, output_path, file_format, output_path)
    staging = partial_path(local)
    shutil.rmtree(staging, ignore_errors=True)
    try:
        # Spark ignores a path whose name starts with "." or "_": the table
        # goes one level down in the hidden directory.
        written = staging / local.name
        rows = _write(table, str(written), file_format, output_path)
        _move_into_place(written, local)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return rows


def _write(table: DataFrame, path: str, file_format: str, output_path: str) -> int:
    """Write ``table`` to ``path`` and return the number of rows written."""
    writer = table.write.format(file_format).mode("overwrite")
    reader = table.sparkSession.read.format(file_format)
    if file_format == "csv":
        writer = writer.option("header", True)
        reader = reader.option("header", True)
    writer.save(path)
    rows = int(reader.load(glob_escaped(path)).count())
    if rows == 0:
        raise DataError(f"nothing written to {output_path}: the input has no rows")
    return rows


def glob_escaped(path: str) -> str:
    r"""Return ``path`` with the characters Spark reads as a glob pattern escaped.

    Spark reads ``*?[]{}`` in a path as a pattern; the output it has just
    written must be read back under its literal name.

    Examples
    --------
    >>> glob_escaped("out/run[2].parquet")
    'out/run\\[2\\].parquet'
    """
    return "".join(f"\\{char}" if char in GLOB_CHARACTERS else char for char in path)


def _move_into_place(written: Path, output: Path) -> None:
    """Replace ``output`` (an earlier Spark output, if any) by ``written``."""
    if not output.exists():
        os.replace(written, output)
        return
    previous = output.with_name(f".{output.name}.previous")
    shutil.rmtree(previous, ignore_errors=True)
    os.replace(output, previous)
    os.replace(written, output)
    shutil.rmtree(previous, ignore_errors=True)


@contextmanager
def _without_pandas_version_warning() -> Iterator[None]:
    """Silence PySpark's warning that it does not fully support pandas 3.

    It comes each time PySpark meets pandas; the pandas UDFs that this engine
    uses give the same predictions as the pandas engine (tests/test_spark.py).
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", "PySpark does not yet fully support pandas", FutureWarning
        )
        yield


@contextmanager
def spark_errors(source: str) -> Iterator[None]:
    """Turn what Spark raises about the data of ``source`` into a ``DataError``.

    Spark reports a bad value when a job runs, not when the table is read:
    a text in a numeric column, a model refusing a value.
    """
    from py4j.protocol import Py4JJavaError  # noqa: PLC0415
    from pyspark.errors import PySparkException, PythonException  # noqa: PLC0415

    try:
        yield
    except Py4JJavaError as error:
        # What Spark does not translate, e.g. a file system it has no client for.
        raise DataError(f"{source}: {error.java_exception.toString()}") from error
    except PythonException as error:
        # The worker's traceback ends with the error that the model raised.
        lines = [line for line in str(error).splitlines() if line.strip()]
        problem = lines[-1].strip() if lines else type(error).__name__
        raise DataError(f"{source}: {problem}") from error
    except PySparkException as error:
        raise DataError(f"{source}: {first_line(error)}") from error
