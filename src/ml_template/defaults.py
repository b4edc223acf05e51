"""Organization defaults: one cookiecutter configuration file for every project.

A platform team writes its answers once (organization, license, CI provider,
minimum Python, the team's tracking server, ...) under ``default_context`` in
a cookiecutter configuration file; ``ml-template --config-file FILE`` offers
them as the defaults of every prompt, and ``--no-input`` takes them as they
are. :func:`check_config_file` reads the file the way cookiecutter will and
refuses, in one line, what cookiecutter would silently ignore or misread: an
answer the template does not ask for, a choice it does not offer, or a value
YAML did not read as text.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from cookiecutter.config import get_config
from cookiecutter.exceptions import CookiecutterException

from ml_template.projects import FleetError


def config_problem(error: CookiecutterException) -> str:
    """Return what is wrong with a configuration file cookiecutter refused."""
    cause = error.__cause__
    if isinstance(cause, yaml.MarkedYAMLError) and cause.problem_mark is not None:
        return f"not valid YAML: {cause.problem} (line {cause.problem_mark.line + 1})"
    return str(error)


def default_context(path: Path) -> dict[str, Any]:
    """Return the ``default_context`` of the configuration file at ``path``."""
    try:
        context = get_config(path)["default_context"]
    except CookiecutterException as error:
        raise FleetError(f"{path}: {config_problem(error)}") from error
    if not isinstance(context, dict):
        raise FleetError(f"{path}: default_context must be a mapping of answers")
    return context


def check_config_file(path: Path, options: Mapping[str, Any]) -> None:
    """Raise ``FleetError`` unless every default in ``path`` is a valid answer.

    ``options`` is ``cookiecutter.json`` without its private entries; a list
    there offers choices. Cookiecutter itself skips a misspelt name, and only
    warns about a value that is not among the choices before taking the
    template's own default. YAML reads ``python_version: 3.10`` as the number
    3.1, so a value that is not text is refused with the quoting that fixes it.
    """
    for name, value in default_context(path).items():
        if name not in options:
            raise FleetError(
                f"{path}: {name!r} is not a template option:"
                f" use one of {', '.join(options)}"
            )
        if not isinstance(value, str):
            raise FleetError(
                f'{path}: {name} must be text: quote it, e.g. {name}: "{value}"'
            )
        choices = options[name]
        if isinstance(choices, list) and value not in choices:
            raise FleetError(
                f"{path}: {name} {value!r} is not allowed:"
                f" choose one of {', '.join(choices)}"
            )
