"""The template's Jinja extension: answers are data, never Jinja, never paths.

Unit tests of ``ml_template_extensions`` (the ``project_directory`` filter,
``escape_jinja`` and which sources Jinja may render), then the whole path
through cookiecutter's Python API and cruft: an answer shaped like a path
leaves nothing anywhere, an answer holding Jinja comes out verbatim.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import ml_template_extensions as extensions
import pytest
from cookiecutter.exceptions import FailedHookException
from cookiecutter.main import cookiecutter
from jinja2 import Environment

from helpers import (
    HOOKS_DIR,
    PATH_ANSWERS,
    PROJECT_TEMPLATE_NAME,
    TEMPLATE_DIR,
    cookiecutter_options,
    copy_template_repository,
)

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

JINJA_TEXT = "{{ 7*7 }} {% raw %} {# not a comment"


def environment(*, with_extension: bool = True) -> Environment:
    """Return a Jinja environment as cookiecutter makes it, extension included."""
    loaded = [extensions.AnswersAreData] if with_extension else []
    # Cookiecutter renders code and configuration, never HTML: no autoescape.
    return Environment(extensions=loaded)  # noqa: S701


def render(source: str) -> str:
    """Render ``source`` as cookiecutter would, with the extension loaded."""
    return environment().from_string(source).render(cookiecutter={"x": "y"})


# --- project_directory ---------------------------------------------------------


@pytest.mark.parametrize(
    ("slug", "directory"),
    [
        ("churn-model", "churn-model"),
        ("a/b", "a-b"),
        ("a\\b", "a-b"),
        ("c:model", "c-model"),
        ("../../etc", "..-..-etc"),
        ("/srv/x", "-srv-x"),
        ("..", "-"),
        (".", "-"),
        ("", "-"),
        (" . ", "-"),
    ],
)
def test_project_directory_is_one_plain_name(slug: str, directory: str) -> None:
    assert extensions.project_directory(slug) == directory
    assert Path(directory).name == directory
    assert directory.strip(". ")


# --- escape_jinja and what Jinja may render ------------------------------------


@pytest.mark.parametrize(
    "text",
    [JINJA_TEXT, "{%- endraw %}", "{{", "}}", "{", "plain", "{{ cookiecutter.x }}"],
)
def test_escape_jinja_renders_as_the_text_itself(text: str) -> None:
    escaped = extensions.escape_jinja(text)

    assert environment(with_extension=False).from_string(escaped).render() == text


def test_answers_render_verbatim() -> None:
    assert render(JINJA_TEXT) == JINJA_TEXT
    assert render("{{ cookiecutter.x }}") == "{{ cookiecutter.x }}"


def test_defaults_of_cookiecutter_json_are_rendered() -> None:
    package_default = cookiecutter_options()["package_name"]
    template = environment().from_string(package_default)

    assert package_default in extensions.template_strings(TEMPLATE_DIR)
    assert template.render(cookiecutter={"project_slug": "churn-model"}) == (
        "churn_model"
    )


def test_hooks_are_trusted() -> None:
    trusted = extensions.template_strings(TEMPLATE_DIR)

    for hook in HOOKS_DIR.glob("*.py"):
        assert hook.read_text(encoding="utf-8") in trusted


def test_template_names_are_trusted_paths() -> None:
    names = extensions.templated_names(TEMPLATE_DIR)
    package_dir = f"{PROJECT_TEMPLATE_NAME}/src/{{{{cookiecutter.package_name}}}}"

    assert PROJECT_TEMPLATE_NAME in names
    assert extensions.is_template_path(package_dir, names)
    assert extensions.is_template_path(f"{package_dir}/cli/__init__.py", names)


@pytest.mark.parametrize(
    "source",
    [
        "README.md",
        "{{ 7*7 }}",
        f"{PROJECT_TEMPLATE_NAME}/{{{{ 7*7 }}}}",
        "{{cookiecutter.package_name}}/../{{ 7*7 }}",
    ],
)
def test_other_paths_are_not_template_paths(source: str) -> None:
    names = extensions.templated_names(TEMPLATE_DIR)

    assert not extensions.is_template_path(source, names)


def test_named_templates_are_rendered() -> None:
    # Files of the template are loaded by name: their Jinja is the template's.
    extension = extensions.AnswersAreData(environment(with_extension=False))

    assert extension.preprocess("{{ x }}", "README.md") == "{{ x }}"
    assert extension.preprocess("{{ x }}", None) == extensions.escape_jinja("{{ x }}")
    assert extension.preprocess("plain", None) == "plain"


# --- through cookiecutter's Python API ----------------------------------------


@pytest.mark.parametrize(("field", "value"), PATH_ANSWERS)
def test_path_answer_leaves_nothing_through_the_api(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], field: str, value: str
) -> None:
    output = tmp_path / "output"
    output.mkdir()
    absolute = tmp_path / "absolute"
    answer = value.format(absolute=absolute)

    with pytest.raises(FailedHookException):
        cookiecutter(
            str(TEMPLATE_DIR),
            no_input=True,
            extra_context={field: answer, "init_git": "no"},
            output_dir=str(output),
        )

    errors = [line for line in capfd.readouterr().err.splitlines() if "Error:" in line]
    assert len(errors) == 1
    assert errors[0].startswith(f"Error: {field} {answer!r} is not valid")
    assert sorted(tmp_path.rglob("*")) == [output]


def test_jinja_in_answers_comes_out_verbatim_through_the_api(tmp_path: Path) -> None:
    project = Path(
        cookiecutter(
            str(TEMPLATE_DIR),
            no_input=True,
            extra_context={
                "project_name": f"Penguins {JINJA_TEXT}",
                "project_slug": "penguins",
                "description": JINJA_TEXT,
                "author_name": JINJA_TEXT,
                "init_git": "no",
            },
            output_dir=str(tmp_path),
        )
    )

    readme = (project / "README.md").read_text(encoding="utf-8")
    pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    assert readme.startswith(f"# Penguins {JINJA_TEXT}\n")
    assert JINJA_TEXT in readme
    assert "49" not in readme
    assert pyproject["project"]["description"] == JINJA_TEXT
    assert pyproject["project"]["authors"][0]["name"] == JINJA_TEXT


# --- through cruft, which records the answers ----------------------------------


def test_jinja_in_answers_is_recorded_verbatim_by_cruft(tmp_path: Path) -> None:
    template = copy_template_repository(tmp_path / "template")
    answers = {"project_slug": "penguins", "description": JINJA_TEXT, "init_git": "no"}
    cruft = str(Path(sys.executable).with_name("cruft"))
    (tmp_path / "out").mkdir()

    subprocess.run(
        [
            cruft, "create", "--no-input", "--output-dir", str(tmp_path / "out"),
            "--extra-context", json.dumps(answers), str(template),
        ],
        capture_output=True,
        check=True,
    )  # fmt: skip

    project = tmp_path / "out" / "penguins"
    recorded = json.loads((project / ".cruft.json").read_text(encoding="utf-8"))
    assert recorded["context"]["cookiecutter"]["description"] == JINJA_TEXT
    pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["description"] == JINJA_TEXT
    assert JINJA_TEXT in (project / "README.md").read_text(encoding="utf-8")
