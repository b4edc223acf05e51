"""Applying the logging configuration; only the CLI calls this module."""

from __future__ import annotations

import json
import logging
import logging.config
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError

PACKAGE_LOGGER = __package__ or __name__
VERBOSITY_LEVELS = {-2: "ERROR", -1: "WARNING", 0: "INFO", 1: "DEBUG"}


class JsonFormatter(logging.Formatter):
    """Format each record as one JSON object per line, for log collectors."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as a JSON line with time, level, logger and message."""
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def read_log_config(path: Path | None) -> dict[str, Any]:
    """Read a dictConfig mapping from ``path``, or the packaged default."""
    source = path or files(__package__ or __name__).joinpath("logging.yaml")
    try:
        config = yaml.safe_load(source.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"cannot read log config {source}: {error}") from error
    if not isinstance(config, dict):
        raise ConfigError(f"log config {source} must be a mapping")
    return config


def configure_logging(
    path: Path | None = None, verbosity: int = 0, json_lines: bool = False
) -> None:
    """Apply the logging configuration, adjusted by ``-v``/``-q`` and JSON mode.

    ``verbosity`` counts ``-v`` minus ``-q``: 0 keeps the configured level of
    this package's logger, 1 means DEBUG, -1 WARNING and -2 ERROR.
    """
    config = read_log_config(path)
    # Loggers created at import time must keep working under any configuration.
    config.setdefault("disable_existing_loggers", False)
    if json_lines:
        for handler in config.get("handlers", {}).values():
            handler["formatter"] = "json"
        config.setdefault("formatters", {}).setdefault("json", {"()": JsonFormatter})
    if verbosity:
        level = VERBOSITY_LEVELS[max(-2, min(1, verbosity))]
        config.setdefault("loggers", {}).setdefault(PACKAGE_LOGGER, {})["level"] = level
    try:
        logging.config.dictConfig(config)
    except (ValueError, TypeError, AttributeError, ImportError) as error:
        raise ConfigError(f"invalid log config: {error}") from error
