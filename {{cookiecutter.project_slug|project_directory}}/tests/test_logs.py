import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.errors import ConfigError
from {{ cookiecutter.package_name }}.logs import (
    PACKAGE_LOGGER,
    JsonFormatter,
    configure_logging,
    read_log_config,
)


def test_json_formatter_writes_one_object_per_record() -> None:
    record = logging.LogRecord(
        "a.b", logging.WARNING, __file__, 1, "hi %s", ("you",), None
    )

    entry = json.loads(JsonFormatter().format(record))

    assert entry["level"] == "WARNING"
    assert entry["logger"] == "a.b"
    assert entry["message"] == "hi you"


def test_json_formatter_includes_exceptions() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = logging.LogRecord(
            "a", logging.ERROR, __file__, 1, "failed", (), exc_info=sys.exc_info()
        )

    assert (
        "RuntimeError: boom" in json.loads(JsonFormatter().format(record))["exception"]
    )


@pytest.mark.parametrize(
    ("verbosity", "level"),
    [
        (0, logging.INFO),
        (1, logging.DEBUG),
        (3, logging.DEBUG),
        (-1, logging.WARNING),
        (-5, logging.ERROR),
    ],
)
def test_verbosity_sets_the_package_level(verbosity: int, level: int) -> None:
    configure_logging(verbosity=verbosity)

    assert logging.getLogger(PACKAGE_LOGGER).level == level


def test_packaged_config_is_valid() -> None:
    config = read_log_config(None)

    assert config["version"] == 1
    assert PACKAGE_LOGGER in config["loggers"]


@pytest.mark.parametrize("text", ["[1, 2]\n", "version: 1\nhandlers: [\n"])
def test_unusable_log_config_is_a_config_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "logging.yaml"
    path.write_text(text, encoding="utf-8")

    with pytest.raises(ConfigError, match="log config"):
        configure_logging(path)


def test_importing_the_package_configures_nothing_but_a_null_handler() -> None:
    code = (
        "import logging, {{ cookiecutter.package_name }} as package;"
        "own = logging.getLogger(package.__name__).handlers;"
        "print([type(h).__name__ for h in own], logging.getLogger().handlers)"
    )

    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert completed.stdout.strip() == "['NullHandler'] []"
