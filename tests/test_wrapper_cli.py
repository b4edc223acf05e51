"""The ``ml-template`` command and the package that ships the template.

The command runs as a subprocess, because a rejected answer is reported by
the pre-generation hook, itself a subprocess writing straight to stderr: only
the real streams show what a user sees. The packaging tests build the sdist
and the wheel with uv, install the wheel into a fresh virtual environment and
render a project from the installed copy of the template.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from cookiecutter.exceptions import FailedHookException, OutputDirExistsException
from uv import find_uv_bin

import ml_template
from helpers import PROJECT_TEMPLATE_NAME, TEMPLATE_DIR, run_captured
from ml_template.cli import error_message, main

PROJECT = "ml-project"
# What the wheel ships below ml_template/template/, as in the repository.
TEMPLATE_SOURCES = [
    "cookiecutter.json",
    "hooks",
    "ml_template_extensions.py",
    "templates",
    PROJECT_TEMPLATE_NAME,
]
# The package's own files in the wheel, besides the template.
PACKAGE_FILES = [
    "__init__.py",
    "cli.py",
    "defaults.py",
    "projects.py",
    "py.typed",
    "status.py",
    "update.py",
]
# Repository directories that neither the sdist nor the wheel may contain.
NOT_SHIPPED = ["tests", "benchmarks", "tools", ".ci", "build", ".venv"]


def script(name: str, scripts_dir: Path) -> Path:
    """Return the console script ``name`` installed in ``scripts_dir``."""
    found = shutil.which(name, path=str(scripts_dir))
    assert found is not None, f"{name} is not installed in {scripts_dir}"
    return Path(found)


def run_ok(
    command: list[str | Path], cwd: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run ``command``; fail the test with its output unless it succeeds."""
    completed = run_captured(command, cwd, env)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed


def files_below(root: Path) -> Iterator[Path]:
    """Yield the files below ``root``, relative to it, without bytecode."""
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if path.is_file() and "__pycache__" not in relative.parts:
            yield relative


def expected_template_files() -> set[str]:
    """Return the wheel paths of the template files in the repository."""
    expected = set()
    for source in TEMPLATE_SOURCES:
        path = TEMPLATE_DIR / source
        relatives = [Path()] if path.is_file() else list(files_below(path))
        for relative in relatives:
            expected.add((Path("ml_template/template") / source / relative).as_posix())
    return expected


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Return an environment whose cookiecutter config keeps replays in tmp."""
    home = tmp_path_factory.mktemp("cookiecutter")
    config = home / "config.yaml"
    config.write_text(
        f'cookiecutters_dir: "{home / "cookiecutters"}"\n'
        f'replay_dir: "{home / "replay"}"\n',
        encoding="utf-8",
    )
    return {**os.environ, "COOKIECUTTER_CONFIG": str(config)}


@pytest.fixture
def output_dir(tmp_path: Path) -> Path:
    """Return an empty output directory for the rendered project."""
    output = tmp_path / "out"
    output.mkdir()
    return output


@pytest.fixture(scope="module")
def cli() -> Path:
    """Return the ``ml-template`` script installed in the development env."""
    return script("ml-template", Path(sysconfig.get_path("scripts")))


def assert_one_error_line(completed: subprocess.CompletedProcess[str]) -> str:
    """Check a failed run printed one ``Error:`` line and nothing else."""
    assert "Traceback" not in completed.stdout + completed.stderr
    assert completed.stdout == ""
    lines = completed.stderr.splitlines()
    assert len(lines) == 1, completed.stderr
    assert lines[0].startswith("Error: ")
    assert not lines[0].startswith("Error: Error:")
    return lines[0]


def test_template_dir_is_the_repository_in_a_dev_install() -> None:
    assert ml_template.TEMPLATE_DIR == TEMPLATE_DIR


@pytest.fixture(scope="module")
def rendered(
    cli: Path, env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """Render once with some answers; return the output directory and the run."""
    output = tmp_path_factory.mktemp("rendered")
    answers = [
        "project_name=Churn Model",
        "task=regression",
        "license=BSD-3-Clause",
        "init_git=no",
    ]
    completed = run_captured([cli, "--no-input", "-o", output, *answers], output, env)
    return output, completed


def test_renders_a_project_with_the_answers(
    rendered: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    output, completed = rendered
    project = output / "churn-model"

    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == ""
    assert (project / "pyproject.toml").is_file()
    task_module = project / "src" / "churn_model" / "model" / "task.py"
    assert "class GradientBoostedRegressor(" in task_module.read_text(encoding="utf-8")
    assert "BSD" in (project / "LICENSE").read_text(encoding="utf-8")


def test_existing_project_is_one_line(
    cli: Path,
    rendered: tuple[Path, subprocess.CompletedProcess[str]],
    env: dict[str, str],
) -> None:
    output, _ = rendered
    answers = ["project_name=Churn Model"]
    completed = run_captured([cli, "--no-input", "-o", output, *answers], output, env)

    assert completed.returncode == 1
    assert "already exists" in assert_one_error_line(completed)


@pytest.mark.parametrize(
    ("answer", "field"),
    [
        ("author_email=nope", "author_email"),
        ("package_name=json", "package_name"),
        ("task=clustering", "task"),
        ("project_slug=../escaped", "project_slug"),
        ("project_slug=a/b", "project_slug"),
        ("project_slug=..", "project_slug"),
        ("package_name=../escaped", "package_name"),
        ("package_name=a/b", "package_name"),
    ],
)
def test_bad_answer_is_one_line_and_leaves_nothing(
    cli: Path,
    output_dir: Path,
    tmp_path: Path,
    env: dict[str, str],
    answer: str,
    field: str,
) -> None:
    completed = run_captured(
        [cli, "--no-input", "-o", output_dir, answer], tmp_path, env
    )

    assert completed.returncode == 1
    assert field in assert_one_error_line(completed)
    assert list(output_dir.iterdir()) == []
    assert list(tmp_path.iterdir()) == [output_dir]


def test_absolute_slug_is_one_line_and_leaves_nothing(
    cli: Path, output_dir: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    absolute = tmp_path / "absolute"
    answer = f"project_slug={absolute}"

    completed = run_captured(
        [cli, "--no-input", "-o", output_dir, answer], tmp_path, env
    )

    assert completed.returncode == 1
    assert "project_slug" in assert_one_error_line(completed)
    assert list(tmp_path.iterdir()) == [output_dir]


@pytest.mark.parametrize("argument", ["author_email", "=x", "autor_email=x"])
def test_malformed_answer_is_a_usage_error(output_dir: Path, argument: str) -> None:
    # Usage errors stop before cookiecutter runs, so in-process is faithful.
    result = CliRunner().invoke(main, ["--no-input", "-o", str(output_dir), argument])

    assert result.exit_code == 2
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert "KEY=VALUE" in result.stderr
    assert list(output_dir.iterdir()) == []


@pytest.mark.parametrize("arguments", [["--help"], ["-h"]])
def test_help_names_every_command(arguments: list[str]) -> None:
    result = CliRunner().invoke(main, arguments, prog_name="ml-template")

    assert result.exit_code == 0
    assert "Usage: ml-template [COMMAND] [OPTIONS] [ARGS]..." in result.stdout
    for command in ("create", "status", "update"):
        assert f"\n  {command} " in result.stdout


def test_rendering_is_the_default_command() -> None:
    named = CliRunner().invoke(main, ["create", "--help"])
    implicit = CliRunner().invoke(main, ["--no-input", "--help"])

    assert named.exit_code == implicit.exit_code == 0
    assert "--config-file FILE" in named.stdout
    assert implicit.stdout == named.stdout


def test_hook_exit_adds_no_message() -> None:
    error = FailedHookException("Hook script failed (exit status: 1)")

    assert error_message(error) is None


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (FailedHookException("Hook script failed (error: boom)"), "Hook script"),
        (OutputDirExistsException('Error: "x" directory\nalready exists'), '"x"'),
        (PermissionError(13, "Permission denied"), "[Errno 13] Permission"),
    ],
)
def test_other_errors_are_one_line(error: Exception, message: str) -> None:
    line = error_message(error)

    assert line is not None
    assert line.startswith(message)
    assert "\n" not in line


# Building and installing the package takes seconds: the packaging tests are
# in the slow tier.
@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the sdist, and the wheel from it, with uv; return the directory."""
    out = tmp_path_factory.mktemp("dist")
    uv_env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    uv = find_uv_bin()
    build = [uv, "build", "--python", sys.executable, "--out-dir", str(out)]
    run_ok([*build, TEMPLATE_DIR], TEMPLATE_DIR, uv_env)
    return out


def only(directory: Path, pattern: str) -> Path:
    """Return the one file in ``directory`` matching ``pattern``."""
    (found,) = directory.glob(pattern)
    return found


@pytest.mark.slow
def test_wheel_ships_exactly_the_template(dist: Path) -> None:
    with zipfile.ZipFile(only(dist, "*.whl")) as wheel:
        names = set(wheel.namelist())

    shipped = {name for name in names if name.startswith("ml_template/template/")}
    assert shipped == expected_template_files()
    for path in [
        "cookiecutter.json",
        "hooks/pre_gen_project.py",
        "templates/licenses/MIT.txt",
        f"{PROJECT_TEMPLATE_NAME}/pyproject.toml",
    ]:
        assert f"ml_template/template/{path}" in shipped
    code = names - shipped - {n for n in names if ".dist-info/" in n}
    assert code == {f"ml_template/{name}" for name in PACKAGE_FILES}


@pytest.mark.slow
def test_sdist_holds_only_what_the_wheel_needs(dist: Path) -> None:
    with tarfile.open(only(dist, "*.tar.gz")) as sdist:
        tops = {Path(name).parts[1] for name in sdist.getnames() if "/" in name}

    assert tops >= {"src", "cookiecutter.json", "hooks", "templates", "README.md"}
    assert tops.isdisjoint(NOT_SHIPPED)


@pytest.mark.slow
def test_installed_wheel_renders_a_project(
    dist: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    uv = find_uv_bin()
    venv = tmp_path / "venv"
    uv_env = {**env, "UV_PYTHON_DOWNLOADS": "never", "VIRTUAL_ENV": str(venv)}
    run_ok([uv, "venv", "--python", sys.executable, venv], tmp_path, uv_env)
    wheel = only(dist, "*.whl")
    run_ok([uv, "pip", "install", "--python", venv, wheel], tmp_path, uv_env)
    scripts = venv / ("Scripts" if os.name == "nt" else "bin")
    installed = script("ml-template", scripts)

    run_ok([installed, "--no-input", "-o", "out"], tmp_path, uv_env)
    bad_answer = ["--no-input", "-o", "bad", "package_name=json"]
    bad = run_captured([installed, *bad_answer], tmp_path, env)

    assert (tmp_path / "out" / PROJECT / "pyproject.toml").is_file()
    assert bad.returncode == 1
    assert "package_name" in assert_one_error_line(bad)
    assert not (tmp_path / "bad" / PROJECT).exists()
