"""Jinja extension of the template: answers are data, never Jinja, never paths.

Cookiecutter renders every answer given in advance (``KEY=VALUE`` on the
command line, a config file's ``default_context``, ``cruft update``) as a Jinja
template before the hooks can see it, so ``{{ 7*7 }}`` in a description would
become ``49``. :class:`AnswersAreData` lets Jinja render only the template's
own strings (the defaults in ``cookiecutter.json``, the hook scripts and the
names of the template's files) and escapes any other string, so an answer
comes out exactly as typed.

Cookiecutter also creates the project directory from ``project_slug`` before
the pre-generation hook can refuse a bad slug: ``a/b`` would leave an empty
``a/`` behind, an absolute path would reach outside the output directory. The
``project_directory`` filter, used in the name of the project template
directory, keeps the directory one plain name inside the output directory; the
hook then refuses the slug, and cookiecutter removes the one directory it made.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path, PurePath

from jinja2 import Environment
from jinja2.ext import Extension

__all__ = ["AnswersAreData", "project_directory"]

TEMPLATE_ROOT = Path(__file__).parent
# Characters that make a slug more than one plain directory name.
PATH_CHARACTERS = re.compile(r"[/\\:]")
JINJA_OPENING = "{"
ESCAPED_OPENING = "{{ '{' }}"


def project_directory(slug: str) -> str:
    """Return ``slug`` as one plain directory name inside the output directory.

    A valid slug is returned unchanged; anything else is flattened into a
    single name that the pre-generation hook will refuse.

    Examples
    --------
    >>> project_directory("churn-model")
    'churn-model'
    >>> project_directory("../../etc")
    '..-..-etc'
    >>> project_directory("/tmp/x")
    '-tmp-x'
    >>> project_directory("..")
    '-'
    """
    flat = PATH_CHARACTERS.sub("-", slug)
    # ".", ".." and the like name the output directory or its parent.
    return flat if flat.strip(". ") else "-"


def _strings(value: object) -> Iterator[str]:
    """Yield every string held in ``value``, a JSON document."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)


def template_strings(root: Path) -> frozenset[str]:
    """Return the strings of the template at ``root`` that Jinja may render."""
    options = json.loads((root / "cookiecutter.json").read_text(encoding="utf-8"))
    hooks = [path.read_text(encoding="utf-8") for path in root.glob("hooks/*.py")]
    return frozenset([*_strings(options), *hooks])


def templated_names(root: Path) -> frozenset[str]:
    """Return the names of files and directories under ``root`` that hold Jinja."""
    return frozenset(
        path.name
        for path in root.rglob(f"*{JINJA_OPENING}*")
        if JINJA_OPENING in path.name
    )


def is_template_path(source: str, names: frozenset[str]) -> bool:
    """Return whether every templated part of path ``source`` is a template name."""
    templated = [part for part in PurePath(source).parts if JINJA_OPENING in part]
    return bool(templated) and all(part in names for part in templated)


def escape_jinja(text: str) -> str:
    """Return Jinja source that renders as ``text`` itself.

    Examples
    --------
    >>> Environment().from_string(escape_jinja("{{ 7*7 }} {% if %}")).render()
    '{{ 7*7 }} {% if %}'
    """
    return text.replace(JINJA_OPENING, ESCAPED_OPENING)


class AnswersAreData(Extension):
    """Render the template's own strings as Jinja and every answer verbatim."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.filters["project_directory"] = project_directory
        self._trusted = template_strings(TEMPLATE_ROOT)
        self._names = templated_names(TEMPLATE_ROOT)

    def preprocess(
        self, source: str, name: str | None, filename: str | None = None
    ) -> str:
        """Escape ``source`` unless the template wrote it.

        Files of the template are loaded by name and always rendered; a string
        rendered on its own is trusted only if it is a default, a hook or a
        path of the template.
        """
        if name is not None or JINJA_OPENING not in source:
            return source
        if source in self._trusted or is_template_path(source, self._names):
            return source
        return escape_jinja(source)
