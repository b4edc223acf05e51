"""Unit tests of the hook functions, imported straight from hooks/*.py."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import (
    GIT_USER,
    PACKAGE_PLACEHOLDER,
    PROJECT_TEMPLATE_DIR,
    choice_options,
    choices,
    cookiecutter_options,
    free_port,
    load_hook,
    text_options,
    write_git_config,
)

pre = load_hook("pre_gen_project")
post = load_hook("post_gen_project")

GOOD_ANSWERS = {
    "project_name": "Penguin Predictor",
    "project_slug": "penguin-predictor",
    "package_name": "penguin_predictor",
    "description": "Predicts the species of a penguin.",
    "author_name": "Jane Doe",
    "author_email": "jane.doe@example.com",
    "organization": "Palmer Station Lab",
    "code_owners": "@palmer-station-lab/ml-reviewers jane.doe@example.com",
    "tracking_uri": "https://mlflow.palmer.example.com",
    "version": "0.1.0",
    "python_version": "3.11",
    "license": "MIT",
    "task": "classification",
    "serving": "yes",
    "docker": "no",
    "ci": "github",
    "dvc": "no",
    "init_git": "yes",
}


def names_field(field: str) -> str:
    """Return a ``match`` pattern for a message that starts with ``field``."""
    return rf"^{re.escape(field)} "


# --- single validators -------------------------------------------------------

GOOD_TEXT = [
    "ML Project",
    "x",
    'Zoë "Ω" O\'Brien \\ co',
    "penguins 🐧 <&> {braces} ${dollar}",
    "x" * pre.MAX_TEXT_LENGTH,
]
BAD_TEXT = [
    "",
    "   ",
    "two\nlines",
    "two\rlines",
    "trailing newline\n",
    "x" * (pre.MAX_TEXT_LENGTH + 1),
    # Every other character str.splitlines() breaks a line at.
    "vertical\x0btab",
    "form\x0cfeed",
    "file\x1cseparator",
    "next\x85line",
    "line\u2028separator",
    "paragraph\u2029separator",
    # Control characters would land raw in README.md and LICENSE.
    "nul\x00byte",
    "\x1b[31mred\x1b[0m",
]


@pytest.mark.parametrize("value", GOOD_TEXT)
def test_check_text_accepts(value: str) -> None:
    assert pre.check_text("description", value) is None


@pytest.mark.parametrize("value", BAD_TEXT)
def test_check_text_rejects(value: str) -> None:
    with pytest.raises(pre.AnswerError, match=names_field("description")):
        pre.check_text("description", value)


GOOD_SLUGS = ["ml", "ml-project", "a1-b2-c3", "churn-model2", "a" * pre.MAX_NAME_LENGTH]
BAD_SLUGS = [
    "",
    "ML-Project",
    "ml_project",
    "ml project",
    "ml.project",
    "-ml",
    "ml-",
    "ml--project",
    "1ml",
    "émile",
    "a" * (pre.MAX_NAME_LENGTH + 1),
]


@pytest.mark.parametrize("value", GOOD_SLUGS)
def test_check_slug_accepts(value: str) -> None:
    assert pre.check_slug("project_slug", value) is None


@pytest.mark.parametrize("value", BAD_SLUGS)
def test_check_slug_rejects(value: str) -> None:
    with pytest.raises(pre.AnswerError, match=names_field("project_slug")):
        pre.check_slug("project_slug", value)


GOOD_PACKAGES = [
    "ml",
    "ml_project",
    "_private_model",
    "model2",
    "a" * pre.MAX_NAME_LENGTH,
]
BAD_PACKAGES = [
    pytest.param("", id="empty"),
    pytest.param("ML_Project", id="uppercase"),
    pytest.param("ml-project", id="dash"),
    pytest.param("ml project", id="space"),
    pytest.param("ml.project", id="dot"),
    pytest.param("2model", id="leading digit"),
    pytest.param("émile", id="non-ascii"),
    pytest.param("a" * (pre.MAX_NAME_LENGTH + 1), id="too long"),
    pytest.param("class", id="keyword"),
    pytest.param("import", id="keyword import"),
    pytest.param("match", id="soft keyword match"),
    pytest.param("case", id="soft keyword case"),
    pytest.param("_", id="soft keyword underscore"),
    pytest.param("json", id="stdlib json"),
    pytest.param("logging", id="stdlib logging"),
    pytest.param("test", id="stdlib test"),
    pytest.param("sklearn", id="dependency sklearn"),
    pytest.param("yaml", id="dependency yaml"),
    pytest.param("mlflow", id="dependency mlflow"),
    pytest.param("_pytest", id="dependency _pytest"),
    pytest.param("tests", id="reserved tests"),
    pytest.param("src", id="reserved src"),
    pytest.param("data", id="reserved data"),
    pytest.param("docs", id="reserved docs"),
]


@pytest.mark.parametrize("value", GOOD_PACKAGES)
def test_check_package_accepts(value: str) -> None:
    assert pre.check_package("package_name", value) is None


@pytest.mark.parametrize("value", BAD_PACKAGES)
def test_check_package_rejects(value: str) -> None:
    with pytest.raises(pre.AnswerError, match=names_field("package_name")):
        pre.check_package("package_name", value)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("class", "keyword"),
        ("match", "keyword"),
        ("json", "standard library"),
        ("sklearn", "'scikit-learn'"),
        ("yaml", "'pyyaml'"),
        ("tests", "directory or module of the project"),
    ],
)
def test_check_package_says_why(value: str, reason: str) -> None:
    with pytest.raises(pre.AnswerError, match=re.escape(reason)):
        pre.check_package("package_name", value)


def test_shadowed_module() -> None:
    assert pre.shadowed_module("penguin_predictor") is None
    assert pre.shadowed_module("json") == "the standard library module"
    assert pre.shadowed_module("sklearn") == "the dependency 'scikit-learn'"
    assert pre.shadowed_module("tests") == "a directory or module of the project"
    assert pre.shadowed_module("template_drift") == pre.shadowed_module("tests")


def test_dependency_import_names_are_normalised_identifiers() -> None:
    for distribution, import_names in pre.DEPENDENCY_IMPORT_NAMES.items():
        assert distribution == re.sub(r"[-_.]+", "-", distribution).lower()
        assert import_names
        assert all(name.isidentifier() for name in import_names), distribution


GOOD_EMAILS = [
    "jane.doe@example.com",
    "a+b@sub.example.org",
    "x@y.io",
    "zoë.o'brien@exämple.com",
]
BAD_EMAILS = [
    "",
    "jane",
    "jane@",
    "@example.com",
    "jane@example",
    "jane@example.",
    "jane@@example.com",
    "jane doe@example.com",
    "jane@example.com ",
    "jane@exa mple.com",
    "jane\x00doe@example.com",
    "jane\x1b[0m@example.com",
]


@pytest.mark.parametrize("value", GOOD_EMAILS)
def test_check_email_accepts(value: str) -> None:
    assert pre.check_email("author_email", value) is None


@pytest.mark.parametrize("value", BAD_EMAILS)
def test_check_email_rejects(value: str) -> None:
    with pytest.raises(pre.AnswerError, match=names_field("author_email")):
        pre.check_email("author_email", value)


GOOD_VERSIONS = [
    "0.1.0",
    "1",
    "1.0",
    "10.20.30",
    "1.0a1",
    "1.0b0",
    "1.0rc1",
    "1.0.post1",
    "1.0.dev0",
    "1.0rc2.post1.dev3",
    "2!1.0.post1.dev2",
]
BAD_VERSIONS = [
    "",
    "v1.0",
    "1.0-beta",
    "01.0",
    "1.01",
    "1.0.",
    ".1",
    "1..0",
    "1.0rc",
    "1.0RC1",
    "1.0c1",
    "1.0-1",
    "1.0+local",
    "1.0.0-rc.1",
    " 1.0",
    "1.0\n",
]


@pytest.mark.parametrize("value", GOOD_VERSIONS)
def test_check_version_accepts(value: str) -> None:
    assert pre.check_version("version", value) is None


@pytest.mark.parametrize("value", BAD_VERSIONS)
def test_check_version_rejects(value: str) -> None:
    with pytest.raises(pre.AnswerError, match=names_field("version")):
        pre.check_version("version", value)


GOOD_CODE_OWNERS = [
    "@jane",
    "@palmer-station-lab/ml-reviewers",
    "@group/subgroup/ml_team",
    "@jane.doe",
    "jane.doe@example.com",
    "@palmer-station-lab/ml-reviewers @jane jane.doe+ml@sub.example.org",
]
BAD_CODE_OWNERS = [
    pytest.param("", id="empty"),
    pytest.param("nobody", id="no at sign"),
    pytest.param("@", id="at sign only"),
    pytest.param("@-jane", id="leading dash"),
    pytest.param("@org/", id="empty team"),
    pytest.param("@org//team", id="empty group"),
    pytest.param("@jane,@joe", id="comma"),
    pytest.param("@jane  @joe", id="two spaces"),
    pytest.param(" @jane", id="leading space"),
    pytest.param("@jane\t@joe", id="tab"),
    pytest.param("@jane\n@joe", id="two lines"),
    pytest.param("jane@example", id="email without tld"),
    pytest.param("jane|doe@example.com", id="pipe in email"),
    pytest.param("@jané", id="non-ascii handle"),
]


@pytest.mark.parametrize("value", GOOD_CODE_OWNERS)
def test_check_code_owners_accepts(value: str) -> None:
    assert pre.check_code_owners("code_owners", value) is None


@pytest.mark.parametrize("value", BAD_CODE_OWNERS)
def test_check_code_owners_rejects(value: str) -> None:
    with pytest.raises(pre.AnswerError, match=names_field("code_owners")):
        pre.check_code_owners("code_owners", value)


def test_check_code_owners_names_the_bad_owner() -> None:
    with pytest.raises(pre.AnswerError, match="'nobody' is not a code owner"):
        pre.check_code_owners("code_owners", "@jane nobody")


GOOD_TRACKING_URIS = [
    "sqlite:///mlflow.db",
    "sqlite:////var/lib/mlflow/mlflow.db",
    "http://127.0.0.1:5000",
    "https://mlflow.example.com",
    "https://mlflow.example.com:8443/prefix",
    "http://[::1]:5000",
    "databricks",
    "databricks://staging-profile",
    "postgresql://db.example.com:5432/mlflow",
    "postgresql+psycopg2://db.example.com/mlflow",
    "mysql://db.example.com/mlflow",
    "mssql+pyodbc://db.example.com/mlflow",
]
BAD_TRACKING_URIS = [
    pytest.param("", id="empty"),
    pytest.param("ftp://x", id="ftp"),
    pytest.param("file:///tmp/mlruns", id="file store"),
    pytest.param("mlruns", id="plain path"),
    pytest.param("mlflow.example.com:5000", id="no scheme"),
    pytest.param("http://", id="no host"),
    pytest.param("http:mlflow.example.com", id="no slashes"),
    pytest.param("HTTP://mlflow.example.com", id="uppercase scheme"),
    pytest.param("sqlite://", id="in-memory sqlite"),
    pytest.param("databricks://", id="no profile"),
    pytest.param("http://[::1:5000", id="unclosed bracket"),
    pytest.param("http://mlflow example.com", id="space"),
    pytest.param('https://mlflow.example.com/"x"', id="double quote"),
    pytest.param("https://mlflow.example.com/`x`", id="backtick"),
    pytest.param("http://mlflow.example.com\n", id="newline"),
    pytest.param("https://mlflöw.example.com", id="non-ascii"),
]


@pytest.mark.parametrize("value", GOOD_TRACKING_URIS)
def test_check_tracking_uri_accepts(value: str) -> None:
    assert pre.check_tracking_uri("tracking_uri", value) is None


@pytest.mark.parametrize("value", BAD_TRACKING_URIS)
def test_check_tracking_uri_rejects(value: str) -> None:
    with pytest.raises(pre.AnswerError, match=names_field("tracking_uri")):
        pre.check_tracking_uri("tracking_uri", value)


@pytest.mark.parametrize(
    "value",
    [
        "http://alice:s3cret@mlflow.example.com",
        "https://s3cret@mlflow.example.com",
        "postgresql://alice:s3cret@db.example.com/mlflow",
    ],
)
def test_check_tracking_uri_refuses_credentials_without_showing_them(
    value: str,
) -> None:
    with pytest.raises(pre.AnswerError, match=names_field("tracking_uri")) as error:
        pre.check_tracking_uri("tracking_uri", value)

    assert "s3cret" not in str(error.value)
    assert "MLFLOW_TRACKING_PASSWORD" in str(error.value)


def test_check_choice() -> None:
    allowed = ["MIT", "Apache-2.0"]

    assert pre.check_choice("license", "MIT", allowed) is None
    for bad in ["GPL-3.0", "mit", "", "MIT "]:
        with pytest.raises(pre.AnswerError, match=names_field("license")):
            pre.check_choice("license", bad, allowed)


# --- CHECKS against cookiecutter.json ---------------------------------------


def test_every_text_option_has_a_check() -> None:
    assert set(pre.CHECKS) == set(text_options())


def test_good_answers_cover_every_option() -> None:
    assert set(GOOD_ANSWERS) == set(text_options()) | set(choice_options())
    for name in choice_options():
        assert GOOD_ANSWERS[name] in choices(name)


# --- validate and main -------------------------------------------------------


def test_validate_accepts_good_answers() -> None:
    assert pre.validate(GOOD_ANSWERS, cookiecutter_options()) is None


@pytest.mark.parametrize("choice", choice_options())
def test_validate_accepts_every_choice(choice: str) -> None:
    for value in choices(choice):
        pre.validate({**GOOD_ANSWERS, choice: value}, cookiecutter_options())


BAD_ANSWERS = {
    "project_name": "two\nlines",
    "project_slug": "Bad_Slug",
    "package_name": "json",
    "description": " ",
    "author_name": "x" * (pre.MAX_TEXT_LENGTH + 1),
    "author_email": "not-an-email",
    "organization": "",
    "code_owners": "nobody",
    "tracking_uri": "ftp://mlflow.example.com",
    "version": "v1.0",
    "python_version": "3.9",
    "license": "GPL-3.0",
    "task": "clustering",
    "serving": "maybe",
    "docker": "podman",
    "ci": "jenkins",
    "dvc": "maybe",
    "init_git": "true",
}


def test_bad_answers_cover_every_option() -> None:
    assert set(BAD_ANSWERS) == set(GOOD_ANSWERS)


@pytest.mark.parametrize("field", BAD_ANSWERS)
def test_validate_rejects_bad_answer(field: str) -> None:
    answers = {**GOOD_ANSWERS, field: BAD_ANSWERS[field]}

    with pytest.raises(pre.AnswerError, match=names_field(field)):
        pre.validate(answers, cookiecutter_options())


def test_validate_stops_at_first_bad_answer() -> None:
    answers = {**GOOD_ANSWERS, "version": "v1", "author_email": "nope"}

    with pytest.raises(pre.AnswerError, match=names_field("author_email")):
        pre.validate(answers, cookiecutter_options())


@pytest.mark.parametrize("value", [None, 1, 1.0, ["a"], {"a": "b"}, True])
def test_validate_rejects_non_text_answer(value: object) -> None:
    answers = {**GOOD_ANSWERS, "version": value}

    with pytest.raises(pre.AnswerError, match=names_field("version") + "must be text"):
        pre.validate(answers, cookiecutter_options())


def test_validate_rejects_missing_answer() -> None:
    answers = dict(GOOD_ANSWERS)
    del answers["organization"]

    with pytest.raises(pre.AnswerError, match=names_field("organization")):
        pre.validate(answers, cookiecutter_options())


def test_main_returns_0_silently_for_good_answers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = pre.main(json.dumps(GOOD_ANSWERS), json.dumps(cookiecutter_options()))

    assert code == 0
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize("field", BAD_ANSWERS)
def test_main_prints_one_line_for_bad_answer(
    field: str, capsys: pytest.CaptureFixture[str]
) -> None:
    answers = {**GOOD_ANSWERS, field: BAD_ANSWERS[field]}

    code = pre.main(json.dumps(answers), json.dumps(cookiecutter_options()))

    out, err = capsys.readouterr()
    assert code == 1
    assert out == ""
    assert err.endswith("\n")
    assert len(err.splitlines()) == 1
    assert err.startswith(f"Error: {field} ")


def test_main_without_options_still_checks_text_answers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # cruft renders the hook without ``_cookiecutter``: choices were checked
    # by cookiecutter itself, the free-text answers must still be checked here.
    answers = {**GOOD_ANSWERS, "project_slug": "Bad_Slug", "license": "GPL-3.0"}

    assert pre.main(json.dumps(GOOD_ANSWERS), "[]") == 0
    assert pre.main(json.dumps(answers), "[]") == 1
    assert capsys.readouterr().err.startswith("Error: project_slug ")


def test_main_never_evaluates_answers(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    payload = '"); __import__("os").system("touch PWNED") #'
    answers = {**GOOD_ANSWERS, "description": payload}

    code = pre.main(json.dumps(answers), json.dumps(cookiecutter_options()))

    assert code == 0
    assert list(tmp_path.iterdir()) == []
    assert capsys.readouterr() == ("", "")


# --- post-generation hook ----------------------------------------------------


def test_unselected_paths() -> None:
    features = {"serving": "yes", "docker": "yes", "dvc": "yes", "package_name": "pkg"}
    classification = {"task": "classification", "ci": "none", **features}
    regression = {**classification, "task": "regression", "ci": "github"}
    plain = {**classification, "serving": "no", "docker": "no", "dvc": "no"}

    assert list(post.unselected_paths(classification)) == [
        "src/pkg/model/regression.py",
        "tests/test_regression.py",
        ".github",
        ".gitlab",
        ".gitlab-ci.yml",
    ]
    assert list(post.unselected_paths(regression)) == [
        "src/pkg/model/classification.py",
        "tests/test_classification.py",
        ".gitlab",
        ".gitlab-ci.yml",
    ]
    assert list(post.unselected_paths(plain)) == [
        "src/pkg/model/regression.py",
        "tests/test_regression.py",
        ".github",
        ".gitlab",
        ".gitlab-ci.yml",
        "docs/serving.md",
        "src/pkg/cli/serve.py",
        "src/pkg/serving",
        "tests/test_batching.py",
        "tests/test_metrics.py",
        "tests/test_prediction_log.py",
        "tests/test_serving.py",
        "tests/test_shadow.py",
        ".dockerignore",
        "Dockerfile",
        ".dvc",
        ".dvcignore",
        "data/penguins.csv.dvc",
        "docs/dvc.md",
        "dvc.yaml",
        "tests/test_dvc.py",
    ]


def test_fixed_name_moves() -> None:
    classification = {"task": "classification", "package_name": "pkg"}
    regression = {**classification, "task": "regression"}

    assert list(post.fixed_name_moves(classification)) == [
        ("src/pkg/model/classification.py", "src/pkg/model/task.py"),
        ("tests/test_classification.py", "tests/test_task.py"),
    ]
    assert list(post.fixed_name_moves(regression)) == [
        ("src/pkg/model/regression.py", "src/pkg/model/task.py"),
        ("tests/test_regression.py", "tests/test_task.py"),
    ]


@pytest.mark.parametrize("task", choices("task"))
def test_fixed_names_move_files_the_chosen_task_owns(task: str) -> None:
    answers = {"task": task, "package_name": "pkg"}
    owned = [path.format(package="pkg") for path in post.OPTION_FILES["task"][task]]

    sources = [source for source, _ in post.fixed_name_moves(answers)]
    assert set(sources) <= set(owned)


def make_tree(root: Path, relatives: list[str]) -> None:
    for relative in relatives:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(relative, encoding="utf-8")


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


TASK_TREE = [
    ".github/workflows/ci.yml",
    ".github/dependabot.yml",
    ".gitlab/merge_request_templates/Default.md",
    ".gitlab-ci.yml",
    "src/pkg/__init__.py",
    "src/pkg/model/__init__.py",
    "src/pkg/model/classification.py",
    "src/pkg/model/regression.py",
    "tests/test_classification.py",
    "tests/test_regression.py",
    "tests/test_features.py",
]
# The files of the dvc option, which projects without it lose.
DVC_TREE = [
    ".dvc/config",
    ".dvcignore",
    "data/penguins.csv.dvc",
    "docs/dvc.md",
    "dvc.yaml",
    "tests/test_dvc.py",
]


def test_remove_unselected_deletes_only_unchosen_files(tmp_path: Path) -> None:
    make_tree(tmp_path, TASK_TREE)

    answers = {
        "task": "regression",
        "ci": "none",
        "serving": "yes",
        "docker": "yes",
        "dvc": "yes",
    }
    removed = post.remove_unselected(tmp_path, {**answers, "package_name": "pkg"})

    assert removed == [
        tmp_path / "src/pkg/model/classification.py",
        tmp_path / "tests/test_classification.py",
        tmp_path / ".github",
        tmp_path / ".gitlab",
        tmp_path / ".gitlab-ci.yml",
    ]
    assert files_under(tmp_path) == {
        "src/pkg/__init__.py",
        "src/pkg/model/__init__.py",
        "src/pkg/model/regression.py",
        "tests/test_regression.py",
        "tests/test_features.py",
    }


def test_move_to_fixed_names_renames_the_chosen_tasks_files(tmp_path: Path) -> None:
    make_tree(tmp_path, ["src/pkg/model/regression.py", "tests/test_regression.py"])
    make_tree(tmp_path, ["src/pkg/model/__init__.py", "tests/test_features.py"])

    post.move_to_fixed_names(tmp_path, {"task": "regression", "package_name": "pkg"})

    assert files_under(tmp_path) == {
        "src/pkg/model/__init__.py",
        "src/pkg/model/task.py",
        "tests/test_features.py",
        "tests/test_task.py",
    }
    moved = tmp_path / "src/pkg/model/task.py"
    assert moved.read_text(encoding="utf-8") == "src/pkg/model/regression.py"
    assert (tmp_path / "tests/test_task.py").read_text(encoding="utf-8") == (
        "tests/test_regression.py"
    )


def test_remove_unselected_deletes_directories(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        post,
        "OPTION_FILES",
        {"docs": {"yes": ["docs", "src/{package}/site.py"], "no": []}},
    )
    make_tree(tmp_path, ["docs/index.md", "docs/api/x.md", "src/pkg/site.py", "keep"])

    removed = post.remove_unselected(tmp_path, {"docs": "no", "package_name": "pkg"})

    assert removed == [tmp_path / "docs", tmp_path / "src/pkg/site.py"]
    assert files_under(tmp_path) == {"keep"}
    assert (tmp_path / "src/pkg").is_dir()


def test_next_steps() -> None:
    message = post.next_steps({"project_slug": "penguin-predictor"})
    lines = message.splitlines()

    assert lines[0] == "Created penguin-predictor. Next steps:"
    assert "  cd penguin-predictor" in lines
    for command in ["train", "evaluate", "predict"]:
        assert any(
            line.startswith(f"  uv run penguin-predictor {command}") for line in lines
        )
    assert all(line == line.rstrip() for line in lines)


def test_post_gen_main_prunes_working_directory(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    make_tree(tmp_path, [*TASK_TREE, *DVC_TREE])
    monkeypatch.chdir(tmp_path)
    answers = {**GOOD_ANSWERS, "package_name": "pkg", "init_git": "no", "docker": "yes"}

    assert post.main(json.dumps(answers)) == 0

    assert capsys.readouterr().out == post.next_steps(answers) + "\n"
    assert "src/pkg/model/regression.py" not in files_under(tmp_path)
    assert "src/pkg/model/classification.py" not in files_under(tmp_path)
    assert "src/pkg/model/task.py" in files_under(tmp_path)
    assert "tests/test_task.py" in files_under(tmp_path)
    task_module = tmp_path / "src/pkg/model/task.py"
    assert task_module.read_text(encoding="utf-8") == "src/pkg/model/classification.py"
    assert ".github/workflows/ci.yml" in files_under(tmp_path)
    assert not (tmp_path / ".git").exists()


def test_post_gen_main_commits_the_pruned_project(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    make_tree(tmp_path, [*TASK_TREE, *DVC_TREE])
    monkeypatch.chdir(tmp_path)
    answers = {
        **GOOD_ANSWERS,
        "package_name": "pkg",
        "init_git": "yes",
        "docker": "yes",
    }

    assert post.main(json.dumps(answers)) == 0

    out = capsys.readouterr().out
    lock_line, git_line, *_ = out.splitlines()
    # The tree has no pyproject.toml to lock.
    assert lock_line.startswith(("No uv.lock: ", "uv was not found"))
    assert git_line.startswith("Created a git repository on branch main with a first")
    assert out.endswith(post.next_steps(answers) + "\n")
    project_files = {f for f in files_under(tmp_path) if not f.startswith(".git/")}
    assert set(git(tmp_path, "ls-files").stdout.splitlines()) == project_files
    assert "src/pkg/model/regression.py" not in project_files
    assert "src/pkg/model/task.py" in project_files


# --- the DVC cache of a project with dvc ---------------------------------------


def versioned_demo_data(project: Path) -> bytes:
    """Copy the template's demo data and its ``.dvc`` file into ``project``."""
    for relative in (post.DVC_DATA_FILE, f"{post.DVC_DATA_FILE}.dvc"):
        destination = project / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(PROJECT_TEMPLATE_DIR / relative, destination)
    data_file: str = post.DVC_DATA_FILE
    return (project / data_file).read_bytes()


def test_the_dvc_file_records_the_md5_of_the_shipped_data() -> None:
    data = PROJECT_TEMPLATE_DIR / post.DVC_DATA_FILE

    recorded = post.dvc_recorded_md5(data.with_name(f"{data.name}.dvc"))

    assert recorded == hashlib.md5(data.read_bytes(), usedforsecurity=False).hexdigest()


def test_dvc_recorded_md5_without_md5_line(tmp_path: Path) -> None:
    dvc_file = tmp_path / "x.dvc"
    dvc_file.write_text("outs:\n- path: x\n", encoding="utf-8")

    with pytest.raises(ValueError, match="records no md5"):
        post.dvc_recorded_md5(dvc_file)


def test_cache_dvc_data_puts_the_file_where_dvc_looks_for_it(tmp_path: Path) -> None:
    data = versioned_demo_data(tmp_path)
    md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()

    cached = post.cache_dvc_data(tmp_path)

    assert cached == tmp_path / ".dvc/cache/files/md5" / md5[:2] / md5[2:]
    assert cached.read_bytes() == data
    assert not cached.stat().st_mode & 0o222  # read-only, as DVC leaves it


@pytest.mark.parametrize("dvc", ["yes", "no"])
def test_post_gen_main_caches_the_data_only_with_dvc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dvc: str
) -> None:
    make_tree(tmp_path, [*TASK_TREE, *DVC_TREE])
    versioned_demo_data(tmp_path)
    monkeypatch.chdir(tmp_path)
    answers = {
        **GOOD_ANSWERS,
        "package_name": "pkg",
        "init_git": "no",
        "docker": "yes",
        "dvc": dvc,
    }

    assert post.main(json.dumps(answers)) == 0

    assert (tmp_path / ".dvc/cache").is_dir() == (dvc == "yes")
    assert (tmp_path / "dvc.yaml").is_file() == (dvc == "yes")


# --- git repository of a new project ------------------------------------------


def git(cwd: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *arguments], cwd=cwd, capture_output=True, text=True, check=False
    )


CI_NAME, CI_EMAIL = "CI Bot", "ci-bot@example.com"
# A git identity as CI systems give it: variables only, no configuration.
CI_IDENTITY = {
    variable: value
    for role in ("AUTHOR", "COMMITTER")
    for variable, value in (
        (f"GIT_{role}_NAME", CI_NAME),
        (f"GIT_{role}_EMAIL", CI_EMAIL),
    )
}


@pytest.fixture
def no_git_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A HOME and global git configuration without any user.

    ``useConfigOnly`` stops git from making up an identity from the host name,
    which it does where the host has a full domain name.
    """
    home = tmp_path / "home"
    home.mkdir()
    config = write_git_config(home / "cfg", None)
    config.write_text("[user]\n\tuseConfigOnly = true\n", encoding="utf-8")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    for variable in ["EMAIL", *CI_IDENTITY]:
        monkeypatch.delenv(variable, raising=False)


@pytest.fixture
def identity_from_environment_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No git configuration at all; the identity only in GIT_* variables, as in CI."""
    home = tmp_path / "empty-home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.delenv("EMAIL", raising=False)
    for variable, value in CI_IDENTITY.items():
        monkeypatch.setenv(variable, value)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    make_tree(project, ["README.md", "src/pkg/__init__.py"])
    return project


def test_git_identity_known_from_configuration(project: Path) -> None:
    git(project, "init", "--quiet")

    assert post.git_identity_known(project)


@pytest.mark.usefixtures("identity_from_environment_only")
def test_git_identity_known_from_environment_only(project: Path) -> None:
    git(project, "init", "--quiet")

    assert post.git_identity_known(project)


@pytest.mark.usefixtures("no_git_user")
def test_git_identity_unknown(project: Path) -> None:
    git(project, "init", "--quiet")

    assert not post.git_identity_known(project)


@pytest.mark.usefixtures("no_git_user")
@pytest.mark.parametrize("missing", CI_IDENTITY)
def test_git_identity_needs_every_variable(
    project: Path, monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    git(project, "init", "--quiet")
    for variable, value in CI_IDENTITY.items():
        if variable != missing:
            monkeypatch.setenv(variable, value)

    assert not post.git_identity_known(project)


def test_init_repository_commits_everything_on_main(project: Path) -> None:
    message = post.init_repository(project)

    assert message == "Created a git repository on branch main with a first commit."
    log = git(project, "log", "--format=%an <%ae>|%s").stdout.splitlines()
    assert log == [f"{GIT_USER[0]} <{GIT_USER[1]}>|{post.INITIAL_COMMIT_MESSAGE}"]
    assert git(project, "branch", "--show-current").stdout.strip() == "main"
    assert git(project, "status", "--porcelain").stdout == ""
    assert git(project, "ls-files").stdout.splitlines() == [
        "README.md",
        "src/pkg/__init__.py",
    ]


@pytest.mark.usefixtures("identity_from_environment_only")
def test_init_repository_commits_with_the_identity_of_the_environment(
    project: Path,
) -> None:
    message = post.init_repository(project)

    assert message == "Created a git repository on branch main with a first commit."
    log = git(project, "log", "--format=%an <%ae>|%cn <%ce>").stdout.splitlines()
    identity = f"{CI_NAME} <{CI_EMAIL}>"
    assert log == [f"{identity}|{identity}"]
    assert git(project, "status", "--porcelain").stdout == ""


@pytest.mark.usefixtures("no_git_user")
def test_init_repository_without_user_stages_and_says_how(project: Path) -> None:
    message = post.init_repository(project)

    assert git(project, "rev-parse", "--verify", "--quiet", "HEAD").returncode != 0
    staged = git(project, "diff", "--cached", "--name-only").stdout.splitlines()
    assert staged == ["README.md", "src/pkg/__init__.py"]
    assert git(project, "branch", "--show-current").stdout.strip() == "main"
    assert "nothing was committed" in message
    assert '  git config --global user.name "Your Name"' in message.splitlines()
    assert f'  git commit -m "{post.INITIAL_COMMIT_MESSAGE}"' in message.splitlines()


def test_init_repository_without_git(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(project))

    message = post.init_repository(project)

    assert message.startswith("git was not found")
    assert not (project / ".git").exists()


def test_init_repository_reports_a_failing_git_command(project: Path) -> None:
    (project / ".git").write_text("not a repository", encoding="utf-8")

    message = post.init_repository(project)

    assert message.startswith("git init failed: ")
    assert len(message.splitlines()) == 1


# --- the lock file of a new project --------------------------------------------


def write_pyproject(project: Path, *lines: str) -> None:
    """Write a minimal ``pyproject.toml`` with ``lines`` appended."""
    project.mkdir(exist_ok=True)
    text = "\n".join(
        [
            "[project]",
            'name = "tiny"',
            'version = "0.1.0"',
            f'requires-python = ">={sys.version_info[0]}.{sys.version_info[1]}"',
            *lines,
            "",
        ]
    )
    (project / "pyproject.toml").write_text(text, encoding="utf-8")


@pytest.fixture
def silent_index() -> Iterator[str]:
    """Return the URL of a package index that accepts connections, never answers.

    What a firewall that drops packets looks like to uv: the kernel completes
    the connection on the listening socket, nothing ever reads from it.
    """
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield f"http://127.0.0.1:{server.getsockname()[1]}/simple"


@pytest.mark.usefixtures("uv_on_path")
def test_lock_dependencies_falls_back_on_the_cache_without_an_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A proxy that refuses connections cuts uv off the index it has cached.
    for variable in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(variable, f"http://127.0.0.1:{free_port()}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    write_pyproject(tmp_path / "project", 'dependencies = ["click"]')

    message = post.lock_dependencies(tmp_path / "project")

    assert message.startswith("Locked the dependencies in uv.lock from uv's cache (")
    assert len(message.splitlines()) == 1
    lock = tmp_path / "project" / "uv.lock"
    assert 'name = "click"' in lock.read_text(encoding="utf-8")


def test_lock_dependencies_asks_the_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, uv_on_path: str
) -> None:
    # An empty cache knows no package: the lock can only come from the index.
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "empty-cache"))
    write_pyproject(tmp_path / "project", 'dependencies = ["click"]')

    message = post.lock_dependencies(tmp_path / "project")

    assert message == "Locked the dependencies in uv.lock."
    lock = tmp_path / "project" / "uv.lock"
    assert 'name = "click"' in lock.read_text(encoding="utf-8")
    completed = subprocess.run(
        [uv_on_path, "lock", "--locked", "--offline"],
        cwd=tmp_path / "project",
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr


@pytest.mark.usefixtures("uv_on_path")
def test_lock_dependencies_gives_up_on_a_silent_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, silent_index: str
) -> None:
    # The hook keeps the user's own settings; these keep the test short.
    monkeypatch.setenv("UV_HTTP_TIMEOUT", "1")
    monkeypatch.setenv("UV_HTTP_RETRIES", "0")
    monkeypatch.setenv("UV_DEFAULT_INDEX", silent_index)
    write_pyproject(tmp_path / "project", 'dependencies = ["click"]')

    message = post.lock_dependencies(tmp_path / "project")

    assert message.startswith("No uv.lock: ")
    assert message.startswith(f"No uv.lock: Failed to fetch: {silent_index}/")
    assert "timed out" in message
    assert message.endswith("Once that is fixed, run `uv lock` and commit it.")
    assert len(message.splitlines()) == 1
    assert not (tmp_path / "project" / "uv.lock").exists()


@pytest.mark.usefixtures("uv_on_path")
def test_lock_dependencies_stops_uv_at_the_time_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, silent_index: str
) -> None:
    monkeypatch.setattr(post, "LOCK_TIMEOUT", 1)
    monkeypatch.setenv("UV_DEFAULT_INDEX", silent_index)
    write_pyproject(tmp_path / "project", 'dependencies = ["click"]')

    message = post.lock_dependencies(tmp_path / "project")

    assert message == (
        "No uv.lock: uv lock did not finish within 1 s."
        " Once that is fixed, run `uv lock` and commit it."
    )
    assert not (tmp_path / "project" / "uv.lock").exists()


@pytest.mark.parametrize("variable", post.LOCK_BLOCKING_VARIABLES)
@pytest.mark.usefixtures("uv_on_path")
def test_lock_dependencies_writes_a_lock_where_ci_asks_for_a_locked_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, "1")
    write_pyproject(tmp_path / "project", "dependencies = []")

    assert post.lock_dependencies(tmp_path / "project").startswith("Locked")
    assert (tmp_path / "project" / "uv.lock").is_file()


@pytest.mark.parametrize(
    ("stderr", "reason"),
    [
        (
            "error: Request failed.\n  cause: a\n  cause: timed out\n",
            "Request failed: timed out",
        ),
        ("error: No interpreter found\n\nhint: install one\n", "No interpreter found"),
        ("", "uv gave no reason"),
    ],
)
def test_uv_error_is_one_line(stderr: str, reason: str) -> None:
    assert post.uv_error(stderr) == reason


def test_lock_dependencies_without_uv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    write_pyproject(tmp_path / "project", "dependencies = []")

    message = post.lock_dependencies(tmp_path / "project")

    assert message == "uv was not found: no uv.lock (install uv, then run `uv lock`)."
    assert not (tmp_path / "project" / "uv.lock").exists()


def test_option_files_match_choices() -> None:
    for option, files_by_value in post.OPTION_FILES.items():
        assert option in choice_options()
        assert set(files_by_value) == set(choices(option))


@pytest.mark.parametrize(
    "relative",
    sorted(
        path
        for files_by_value in post.OPTION_FILES.values()
        for paths in files_by_value.values()
        for path in paths
    ),
)
def test_option_file_exists_in_template(relative: str) -> None:
    path = PROJECT_TEMPLATE_DIR / relative.format(package=PACKAGE_PLACEHOLDER)

    assert path.exists()


@pytest.mark.parametrize("task", choices("task"))
def test_fixed_name_sources_exist_in_template(task: str) -> None:
    answers = {"task": task, "package_name": PACKAGE_PLACEHOLDER}

    for source, _ in post.fixed_name_moves(answers):
        assert (PROJECT_TEMPLATE_DIR / source).is_file()
