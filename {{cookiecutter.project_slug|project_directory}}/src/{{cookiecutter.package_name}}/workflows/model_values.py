"""Writing new model hyperparameter values into config.yaml, keeping every other byte.

``tune`` finds values for some of the ``model:`` settings of
``config.yaml``; this module writes them as ``model:`` lines to paste, or
into the file in place. Only the value of each key changes:
comments, spacing, line endings and every other line stay as they were, and
a file that cannot be rewritten that way is refused and left untouched.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import yaml

from ..config import SearchRange
from ..errors import ConfigError, ProjectError
from ..files import write_text_atomically

MODEL_SECTION = "model"


def yaml_number(value: float) -> str:
    """Return ``value`` written so that YAML reads it back as the same number.

    YAML needs a dot in a float's mantissa: ``1e-06`` would be a string.

    Examples
    --------
    >>> yaml_number(1e-06), yaml_number(0.05), yaml_number(120)
    ('1.0e-06', '0.05', '120')
    """
    if isinstance(value, int):
        return str(value)
    text = repr(float(value))
    mantissa, exponent_mark, exponent = text.partition("e")
    if exponent_mark and "." not in mantissa:
        text = f"{mantissa}.0e{exponent}"
    return text


def best_params_yaml(params: Mapping[str, float]) -> str:
    """Return the ``model:`` lines that set ``params``, to paste into config.yaml.

    Examples
    --------
    >>> print(best_params_yaml({"learning_rate": 0.05, "max_iter": 120}), end="")
    model:
      learning_rate: 0.05
      max_iter: 120
    """
    lines = [f"{MODEL_SECTION}:"]
    lines += [f"  {name}: {yaml_number(value)}" for name, value in params.items()]
    return "\n".join(lines) + "\n"


_SECTION_HEADER = re.compile(
    rf"^{MODEL_SECTION}[ \t]*:[ \t]*(?P<value>[^\s#][^#]*)?(?:#.*)?$"
)
_KEY_LINE = re.compile(
    r"^(?P<head>(?P<indent>[ ]+)(?P<key>[A-Za-z_]\w*)[ \t]*:[ \t]*)"
    r"(?P<value>[^\s#]+(?:[ \t]+[^\s#]+)*)?(?P<tail>[ \t]*(?:#.*)?)$"
)


def with_model_values(text: str, params: Mapping[str, float], source: Path) -> str:
    """Return the YAML ``text`` with the values ``params`` in its ``model:`` section.

    Only the value of each key changes: comments, spacing, line endings and
    every other line stay as they were. A key the section lacks is added
    after its last key; a missing section is added at the end.

    Raises
    ------
    ConfigError
        Naming ``source``, if the section is not one ``key: number`` per
        line, or the result would not read as ``text`` with these values.
    """
    lines = text.splitlines(keepends=True)
    header = next(
        (
            number
            for number, line in enumerate(lines)
            if _SECTION_HEADER.match(line.rstrip("\r\n"))
        ),
        None,
    )
    if header is None:
        newline = "\r\n" if "\r\n" in text else "\n"
        separator = newline if text and not text.endswith("\n") else ""
        updated = text + separator + best_params_yaml(params).replace("\n", newline)
    else:
        updated = "".join(_with_section_values(lines, header, params, source))
    _check_rewrite(text, updated, params, source)
    return updated


def _with_section_values(
    lines: list[str], header: int, params: Mapping[str, float], source: Path
) -> list[str]:
    """Return ``lines`` with ``params`` set in the section headed by line ``header``."""
    section = _SECTION_HEADER.match(lines[header].rstrip("\r\n"))
    if section is not None and section["value"]:
        raise ConfigError(
            f"cannot write the model values into {source}: write its model section"
            " as one `key: value` per line"
        )
    keys = _section_keys(lines, header)
    indent = next((match["indent"] for match in keys.values()), "  ")
    newline = lines[header][len(lines[header].rstrip("\r\n")) :] or "\n"
    updated = list(lines)
    added = []
    for name, value in params.items():
        found = [number for number, match in keys.items() if match["key"] == name]
        if len(found) > 1:
            raise ConfigError(f"model.{name} is set twice in {source}: keep one")
        if found:
            line = found[0]
            updated[line] = _with_value(lines[line], keys[line], value, source)
        else:
            added.append(f"{indent}{name}: {yaml_number(value)}{newline}")
    last_key = max(keys, default=header)
    if added and not updated[last_key].endswith(("\n", "\r")):
        updated[last_key] += newline
    updated[last_key + 1 : last_key + 1] = added
    return updated


def _section_keys(lines: list[str], header: int) -> dict[int, re.Match[str]]:
    """Return the key lines of the section headed by line ``header``, by number.

    The section ends before the first line that is neither blank nor indented.
    """
    keys = {}
    for number in range(header + 1, len(lines)):
        line = lines[number]
        if line.strip() and not line[0].isspace():
            break
        if match := _KEY_LINE.match(line.rstrip("\r\n")):
            keys[number] = match
    return keys


def _with_value(line: str, key: re.Match[str], value: float, source: Path) -> str:
    """Return the key ``line`` (matched as ``key``) with its value replaced.

    Raises
    ------
    ConfigError
        If the line does not hold a plain number: only numbers are replaced.
    """
    if key["value"] is None or not _is_number(key["value"]):
        raise ConfigError(
            f"cannot write model.{key['key']} into {source}: its value is not a"
            " plain number on the same line"
        )
    ending = line[len(line.rstrip("\r\n")) :]
    return f"{key['head']}{yaml_number(value)}{key['tail']}{ending}"


def _is_number(text: str) -> bool:
    """Return whether YAML reads ``text`` as an int or a float (not a boolean)."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return False
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_rewrite(
    before: str, after: str, params: Mapping[str, float], source: Path
) -> None:
    """Raise unless ``after`` reads as ``before`` with the model values ``params``."""
    expected = _yaml_value(before)
    if not isinstance(expected, dict):
        raise ConfigError(f"{source} does not hold a mapping of settings")
    section = expected.get(MODEL_SECTION) or {}
    if not isinstance(section, dict):
        raise ConfigError(f"the model section of {source} is not a mapping")
    expected[MODEL_SECTION] = section | dict(params)
    if _yaml_value(after) != expected:
        raise ConfigError(
            f"cannot write the model values into {source} safely: paste them by hand"
        )


def _yaml_value(text: str) -> object:
    """Return what YAML reads in ``text``: ``{}`` if nothing, ``None`` if invalid."""
    try:
        return yaml.safe_load(text) or {}
    except yaml.YAMLError:
        return None


def read_config_text(config_path: Path) -> str:
    """Return the text of ``config_path`` exactly as stored, line endings included.

    Raises
    ------
    ConfigError
        If the file cannot be read as UTF-8 text.
    """
    try:
        return config_path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read config file {config_path}: {error}") from error


def check_writable(config_path: Path, search_space: Mapping[str, SearchRange]) -> None:
    """Raise now if the values of ``search_space`` could not be written later.

    Called before a search, so that ``tune --write`` fails at once rather
    than after its trials.

    Raises
    ------
    ConfigError
        If :func:`with_model_values` would refuse ``config_path``.
    """
    placeholders = {name: bounds.low for name, bounds in search_space.items()}
    with_model_values(read_config_text(config_path), placeholders, config_path)


def write_best_params(config_path: Path, params: Mapping[str, float]) -> None:
    """Write ``params`` into the ``model:`` section of the YAML file ``config_path``.

    The file is replaced atomically; only the values change (see
    :func:`with_model_values`).

    Raises
    ------
    ConfigError
        If the file cannot be read, rewritten safely, or written; it is then
        left as it was.
    """
    updated = with_model_values(read_config_text(config_path), params, config_path)
    try:
        write_text_atomically(config_path, updated)
    except ProjectError as error:
        raise ConfigError(str(error)) from error
