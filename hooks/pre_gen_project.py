"""Validate every answer before cookiecutter writes a single file.

Cookiecutter renders this script with Jinja before running it. The answers are
pasted in only as a JSON document inside a raw string and parsed with
``json.loads``, so no answer is ever executed as code. Everything above
``main`` is plain Python that the template's own tests import and unit-test.

A bad answer prints one line naming the field and what is allowed, then exits
with status 1; cookiecutter then deletes the project directory it created.
"""

from __future__ import annotations

import json
import keyword
import re
import sys
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

SLUG_PATTERN = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")
PACKAGE_PATTERN = re.compile(r"[a-z_][a-z0-9_]*")
EMAIL_PATTERN = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
# Canonical public PEP 440 versions: 1.0, 2!1.0, 1.0a1, 1.0rc2.post1.dev3, ...
VERSION_PATTERN = re.compile(
    r"([1-9][0-9]*!)?(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*"
    r"((a|b|rc)(0|[1-9][0-9]*))?(\.post(0|[1-9][0-9]*))?(\.dev(0|[1-9][0-9]*))?"
)
# A code owner: a GitHub or GitLab handle (@user, @org/team, GitLab's nested
# @group/subgroup/...) or an email address of an account.
OWNER_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?"
OWNER_HANDLE_PATTERN = re.compile(rf"@{OWNER_NAME}(?:/{OWNER_NAME})*")
OWNER_EMAIL_PATTERN = re.compile(
    r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
)
# The characters RFC 3986 allows in a URI: no spaces, double quotes or backticks.
URI_PATTERN = re.compile(r"[A-Za-z0-9._~:/?#\[\]@!$&'()*+,;=%-]+")
# Tracking stores MLflow accepts: a server, a Databricks workspace (also the
# bare ``databricks``), or a SQLAlchemy database URI (``dialect+driver://``).
SERVER_SCHEMES = frozenset({"http", "https", "databricks"})
DATABASE_DIALECTS = frozenset({"sqlite", "postgresql", "mysql", "mssql"})
# Longer names would make black and ruff wrap generated lines differently.
MAX_NAME_LENGTH = 40
MAX_TEXT_LENGTH = 1000
# Unicode categories of control characters, surrogates and line separators.
UNPRINTABLE_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})

# Import names of the generated project's runtime and development dependencies,
# keyed by distribution name. A package with one of these names would shadow
# the dependency; the template's tests check this list against pyproject.toml.
DEPENDENCY_IMPORT_NAMES: dict[str, tuple[str, ...]] = {
    "black": ("black",),
    "click": ("click",),
    "cruft": ("cruft",),
    "docutils": ("docutils",),
    "dvc": ("dvc",),
    "fairlearn": ("fairlearn",),
    "flask-wtf": ("flask_wtf",),
    "furo": ("furo",),
    "hatchling": ("hatchling",),
    "matplotlib": ("matplotlib",),
    "httpx2": ("httpx2",),
    "import-linter": ("importlinter", "grimp"),
    "mlflow": ("mlflow",),
    "mypy": ("mypy",),
    "myst-parser": ("myst_parser",),
    "numpy": ("numpy",),
    "optuna": ("optuna",),
    "orjson": ("orjson",),
    "pandas": ("pandas",),
    "pandas-stubs": ("pandas_stubs",),
    "pandera": ("pandera",),
    "pre-commit": ("pre_commit",),
    "pre-commit-hooks": ("pre_commit_hooks",),
    "prometheus-client": ("prometheus_client",),
    "pyarrow": ("pyarrow",),
    "pydantic": ("pydantic",),
    "pydantic-settings": ("pydantic_settings",),
    "pyspark": ("pyspark", "py4j"),
    "pytest": ("pytest", "_pytest"),
    "pytest-cov": ("pytest_cov",),
    "pytest-xdist": ("xdist",),
    "pyyaml": ("yaml",),
    "requests": ("requests",),
    "ruff": ("ruff",),
    "scikit-learn": ("sklearn",),
    "scipy": ("scipy",),
    "skops": ("skops",),
    "sphinx": ("sphinx",),
    "sphinx-click": ("sphinx_click",),
    "starlette": ("starlette",),
    "threadpoolctl": ("threadpoolctl",),
    "typeguard": ("typeguard",),
    "types-pyyaml": ("yaml_stubs",),
    "types-requests": ("requests_stubs",),
    "typing-inspect": ("typing_inspect",),
    "uvicorn": ("uvicorn",),
}
# Names that are not dependencies but would still confuse imports or tools.
RESERVED_PACKAGE_NAMES = frozenset(
    {"src", "test", "tests", "docs", "data", "tools", "template_drift"}
)


class AnswerError(ValueError):
    """An answer that the template cannot use; the message is for the user."""


def _single_line(name: str, value: str) -> None:
    if not value.strip():
        raise AnswerError(f"{name} must not be empty")
    if "\n" in value or "\r" in value:
        raise AnswerError(f"{name} must be a single line")
    # Control characters and other line breaks would corrupt TOML, YAML and text.
    if any(unicodedata.category(char) in UNPRINTABLE_CATEGORIES for char in value):
        raise AnswerError(f"{name} must be printable text on a single line")
    if len(value) > MAX_TEXT_LENGTH:
        raise AnswerError(f"{name} must be at most {MAX_TEXT_LENGTH} characters")


def check_text(name: str, value: str) -> None:
    """Accept any non-empty, single-line text of reasonable length."""
    _single_line(name, value)


def check_slug(name: str, value: str) -> None:
    """Accept a lowercase, dash-separated distribution name."""
    if not SLUG_PATTERN.fullmatch(value) or len(value) > MAX_NAME_LENGTH:
        raise AnswerError(
            f"{name} {value!r} is not valid: use lowercase letters, digits and"
            f" single dashes, starting with a letter (at most {MAX_NAME_LENGTH}"
            " characters), e.g. 'churn-model'"
        )


def shadowed_module(value: str) -> str | None:
    """Return what a package named ``value`` would shadow, or ``None``."""
    if value in sys.stdlib_module_names:
        return "the standard library module"
    for distribution, import_names in DEPENDENCY_IMPORT_NAMES.items():
        if value in import_names:
            return f"the dependency {distribution!r}"
    if value in RESERVED_PACKAGE_NAMES:
        return "a directory or module of the project"
    return None


def check_package(name: str, value: str) -> None:
    """Accept a lowercase identifier that shadows nothing the project imports."""
    if (
        not PACKAGE_PATTERN.fullmatch(value)
        or not value.isidentifier()
        or len(value) > MAX_NAME_LENGTH
    ):
        raise AnswerError(
            f"{name} {value!r} is not valid: use lowercase letters, digits and"
            " underscores, starting with a letter or underscore (at most"
            f" {MAX_NAME_LENGTH} characters), e.g. 'churn_model'"
        )
    if keyword.iskeyword(value) or keyword.issoftkeyword(value):
        raise AnswerError(f"{name} {value!r} is a Python keyword: choose another")
    shadowed = shadowed_module(value)
    if shadowed:
        raise AnswerError(f"{name} {value!r} would shadow {shadowed}: choose another")


def check_email(name: str, value: str) -> None:
    """Accept an address of the form ``name@domain.tld``."""
    if not EMAIL_PATTERN.fullmatch(value) or not value.isprintable():
        raise AnswerError(
            f"{name} {value!r} is not an email address: expected name@domain.tld"
        )


def check_version(name: str, value: str) -> None:
    """Accept a canonical public PEP 440 version."""
    if not VERSION_PATTERN.fullmatch(value):
        raise AnswerError(
            f"{name} {value!r} is not a PEP 440 version: expected e.g. 0.1.0,"
            " 1.0rc1 or 2.0.post1"
        )


def check_code_owners(name: str, value: str) -> None:
    """Accept space-separated ``@user``, ``@org/team`` handles or email addresses."""
    _single_line(name, value)
    for owner in value.split(" "):
        if not (
            OWNER_HANDLE_PATTERN.fullmatch(owner)
            or OWNER_EMAIL_PATTERN.fullmatch(owner)
        ):
            raise AnswerError(
                f"{name} {owner!r} is not a code owner: give @user, @org/team or"
                " name@domain.tld, separated by single spaces, e.g."
                " '@example-org/ml-reviewers'"
            )


def is_tracking_store(uri: str) -> bool:
    """Whether ``uri`` names a tracking store MLflow accepts.

    Examples
    --------
    >>> [is_tracking_store(uri) for uri in ["sqlite:///mlflow.db", "ftp://x"]]
    [True, False]
    """
    if uri == "databricks":
        return True
    try:
        parts = urlsplit(uri)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return False
    # A lowercase scheme (urlsplit lowercases it), as MLflow expects, then //.
    if not uri.startswith(f"{parts.scheme}://"):
        return False
    if parts.scheme in SERVER_SCHEMES:
        return bool(parts.netloc)
    dialect = parts.scheme.partition("+")[0]
    return dialect in DATABASE_DIALECTS and bool(parts.netloc or parts.path.strip("/"))


def check_tracking_uri(name: str, value: str) -> None:
    """Accept the URI of a tracking store MLflow accepts, without credentials.

    The value is never shown when it carries a user or a password.
    """
    _single_line(name, value)
    if "@" in value.partition("://")[2].partition("/")[0]:
        raise AnswerError(
            f"{name} must not contain credentials (user:password@): they come from"
            " MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or"
            " MLFLOW_TRACKING_TOKEN) in the environment, never from files"
        )
    if not URI_PATTERN.fullmatch(value):
        raise AnswerError(
            f"{name} {value!r} is not a URI: use only the characters URIs allow,"
            " with no spaces"
        )
    if not is_tracking_store(value):
        raise AnswerError(
            f"{name} {value!r} is not a tracking URI MLflow accepts: use"
            " http(s)://host[:port], databricks, or a database such as"
            " sqlite:///mlflow.db or postgresql://host/db"
        )


CHECKS: dict[str, Callable[[str, str], None]] = {
    "project_name": check_text,
    "project_slug": check_slug,
    "package_name": check_package,
    "description": check_text,
    "author_name": check_text,
    "author_email": check_email,
    "organization": check_text,
    "code_owners": check_code_owners,
    "tracking_uri": check_tracking_uri,
    "version": check_version,
}


def check_choice(name: str, value: str, allowed: Sequence[str]) -> None:
    """Accept only one of the values ``cookiecutter.json`` offers."""
    if value not in allowed:
        raise AnswerError(
            f"{name} {value!r} is not allowed: choose one of {', '.join(allowed)}"
        )


def text_answer(answers: Mapping[str, Any], name: str) -> str:
    """Return the answer to ``name``, which must be a string."""
    value = answers.get(name)
    if not isinstance(value, str):
        raise AnswerError(f"{name} must be text, got {value!r}")
    return value


def validate(answers: Mapping[str, Any], options: Mapping[str, Any]) -> None:
    """Check every answer, raising ``AnswerError`` on the first bad one.

    ``answers`` are the values cookiecutter will render with. ``options`` is
    ``cookiecutter.json`` as loaded, where a list marks a choice; it is empty
    when the generator does not expose it (cruft), and the choices were then
    already checked against ``cookiecutter.json`` by the generator itself.
    """
    for name, check in CHECKS.items():
        check(name, text_answer(answers, name))
    for name, option in options.items():
        if isinstance(option, list) and not name.startswith("_"):
            allowed = [str(choice) for choice in option]
            check_choice(name, text_answer(answers, name), allowed)


def main(answers_json: str, options_json: str) -> int:
    """Validate the rendered answers; print one line and return 1 if bad."""
    try:
        # Options arrive as (name, value) pairs to keep cookiecutter.json's order.
        validate(json.loads(answers_json), dict(json.loads(options_json)))
    except AnswerError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(
        main(
            r"""{{ cookiecutter | tojson }}""",
            r"""{{ (_cookiecutter | default({})).items() | list | tojson }}""",
        )
    )
