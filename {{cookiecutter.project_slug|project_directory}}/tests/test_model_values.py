"""Rewriting the model values of a config file: only the values change, or nothing."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from {{ cookiecutter.package_name }}.errors import ConfigError
from {{ cookiecutter.package_name }}.workflows.model_values import (
    best_params_yaml,
    with_model_values,
    write_best_params,
)


def yaml_mapping(text: str) -> dict[str, Any]:
    """Read ``text`` as a YAML mapping."""
    loaded = yaml.safe_load(text)
    assert isinstance(loaded, dict)
    return loaded


SHIPPED_MODEL = (
    "seed: 42 # the seed\n"
    "\n"
    "model:   # hyperparameters\n"
    "  learning_rate: 0.1    # step size\n"
    "  # a comment inside the section\n"
    "  max_iter: 100\n"
    "\n"
    "# the next section\n"
    "tracking:\n"
    "  experiment: x\n"
)


def test_rewriting_keeps_comments_and_spacing() -> None:
    updated = with_model_values(
        SHIPPED_MODEL, {"learning_rate": 0.05, "max_iter": 120}, Path("c.yaml")
    )

    assert updated == SHIPPED_MODEL.replace("rate: 0.1", "rate: 0.05").replace(
        "iter: 100", "iter: 120"
    )


def test_rewriting_adds_a_missing_key_and_a_missing_section() -> None:
    with_key = with_model_values(SHIPPED_MODEL, {"max_leaf_nodes": 8}, Path("c.yaml"))
    with_section = with_model_values("seed: 1\n", {"max_iter": 7}, Path("c.yaml"))

    assert "  max_iter: 100\n  max_leaf_nodes: 8\n\n# the next" in with_key
    assert with_section == "seed: 1\nmodel:\n  max_iter: 7\n"


def test_rewriting_keeps_windows_line_endings() -> None:
    text = "model:\r\n  learning_rate: 0.1\r\n"

    updated = with_model_values(text, {"learning_rate": 1e-06}, Path("c.yaml"))

    assert updated == "model:\r\n  learning_rate: 1.0e-06\r\n"
    assert yaml_mapping(updated)["model"]["learning_rate"] == 1e-06


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("model: {learning_rate: 0.1}\n", "one `key: value` per line"),
        ("model:\n  learning_rate: 0.1\n  learning_rate: 0.2\n", "set twice"),
        ("model:\n  learning_rate: fast\n", "not a plain number"),
        ("model:\n  learning_rate: &rate 0.1\nother: *rate\n", "safely"),
        ("model: 3\n", "one `key: value` per line"),
    ],
)
def test_an_unsafe_rewrite_fails_and_leaves_the_file(
    tmp_path: Path, text: str, message: str
) -> None:
    config_path = tmp_path / "config.yaml"
    config_path.write_text(text, encoding="utf-8")

    with pytest.raises(ConfigError, match=re.escape(message)):
        write_best_params(config_path, {"learning_rate": 0.05})

    assert config_path.read_text(encoding="utf-8") == text


def test_the_printed_lines_read_back_as_the_values() -> None:
    params = {"learning_rate": 1e-05, "max_iter": 120, "l2_regularization": 2.5}

    assert yaml_mapping(best_params_yaml(params)) == {"model": params}
