"""Constants and functions shared by the template's test modules.

A plain module, imported with ``from helpers import ...``: where the template
lives, what ``cookiecutter.json`` offers, the hooks as importable modules, a
git configuration for tests, and the offline checkers of CI files.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

# The repository root is the cookiecutter template: cookiecutter.json, hooks/,
# templates/ and the project directory below live there.
TEMPLATE_DIR = Path(__file__).resolve().parent.parent
# Named through a filter of ml_template_extensions.py that keeps it one plain name.
PROJECT_TEMPLATE_NAME = "{{cookiecutter.project_slug|project_directory}}"
PROJECT_TEMPLATE_DIR = TEMPLATE_DIR / PROJECT_TEMPLATE_NAME
PACKAGE_PLACEHOLDER = "{{cookiecutter.package_name}}"
HOOKS_DIR = TEMPLATE_DIR / "hooks"


@functools.cache
def _cookiecutter_json() -> str:
    return (TEMPLATE_DIR / "cookiecutter.json").read_text(encoding="utf-8")


def cookiecutter_options() -> dict[str, Any]:
    """Return ``cookiecutter.json`` as loaded (a fresh copy on every call)."""
    options: dict[str, Any] = json.loads(_cookiecutter_json())
    return options


def choices(name: str) -> list[str]:
    """Return the values offered for the choice option ``name``, default first."""
    option = cookiecutter_options()[name]
    assert isinstance(option, list), f"{name} is not a choice option"
    return [str(value) for value in option]


def choice_options() -> list[str]:
    """Return the names of the choice options (a list in ``cookiecutter.json``)."""
    return [
        name
        for name, option in cookiecutter_options().items()
        if not name.startswith("_") and isinstance(option, list)
    ]


def text_options() -> list[str]:
    """Return the names of the free-text options (asked for, not chosen)."""
    return [
        name
        for name, option in cookiecutter_options().items()
        if not name.startswith("_") and not isinstance(option, list)
    ]


def default_answers() -> dict[str, str]:
    """Return the default value of every choice option."""
    return {name: choices(name)[0] for name in choice_options()}


@functools.cache
def load_hook(name: str) -> ModuleType:
    """Import ``hooks/<name>.py`` as a module without running its ``__main__``.

    The hooks are valid Python before cookiecutter renders them: the Jinja
    placeholders sit in raw strings under ``if __name__ == "__main__":``.
    """
    path = HOOKS_DIR / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"hooks_{name}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GIT_USER = ("Template Tests", "template-tests@example.com")

# Answers that are paths, not names: each is refused and leaves nothing behind.
# ``{absolute}`` stands for a directory beside the output directory.
PATH_ANSWERS = [
    pytest.param("project_slug", "../escaped", id="slug-parent"),
    pytest.param("project_slug", "a/b", id="slug-slash"),
    pytest.param("project_slug", "a\\b", id="slug-backslash"),
    pytest.param("project_slug", "..", id="slug-dotdot"),
    pytest.param("project_slug", "{absolute}", id="slug-absolute"),
    pytest.param("package_name", "../escaped", id="package-parent"),
    pytest.param("package_name", "a/b", id="package-slash"),
    pytest.param("package_name", "{absolute}", id="package-absolute"),
]


def write_git_config(path: Path, user: tuple[str, str] | None) -> Path:
    """Write a git global configuration file, with ``user`` (name, email) if given."""
    text = f"[user]\n\tname = {user[0]}\n\temail = {user[1]}\n" if user else ""
    path.write_text(text, encoding="utf-8")
    return path


# cruft's console script, installed next to this interpreter.
CRUFT = str(Path(sys.executable).with_name("cruft"))
# zizmor's wheel installs only its binary, next to this interpreter.
ZIZMOR = str(Path(sysconfig.get_path("scripts")) / "zizmor")


def run_tool(*command: str) -> subprocess.CompletedProcess[str]:
    """Run a checker; on failure, fail with its output."""
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed


def check_jsonschema(schema: str, files: list[Path], *options: str) -> None:
    """Validate ``files`` against check-jsonschema's vendored ``schema``, offline."""
    assert files
    run_tool(
        sys.executable,
        "-m",
        "check_jsonschema",
        "--builtin-schema",
        schema,
        *options,
        *map(str, files),
    )


def zizmor_offline(*projects: Path) -> None:
    """Audit the GitHub workflows and Dependabot files of ``projects``: no findings."""
    completed = run_tool(ZIZMOR, "--offline", "--no-progress", *map(str, projects))
    assert "No findings to report" in completed.stdout


def copy_working_tree(destination: Path) -> None:
    """Copy what this checkout would commit, uncommitted changes included."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=TEMPLATE_DIR,
        capture_output=True,
        text=True,
        check=True,
    )
    for name in listing.stdout.split("\0"):
        if (TEMPLATE_DIR / name).is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(TEMPLATE_DIR / name, target)


def copy_template_repository(destination: Path) -> Path:
    """Copy this checkout's working tree into a new git repository; return it.

    cruft renders only templates that are git repositories.
    """
    copy_working_tree(destination)
    for arguments in (
        ["init", "-q", "-b", "main"],
        ["add", "-A"],
        ["commit", "-qm", "v1"],
    ):
        subprocess.run(["git", *arguments], cwd=destination, check=True)
    return destination


def run_captured(
    command: Sequence[str | Path], cwd: Path, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` and capture its output as text, whatever its status."""
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def run(*command: str, cwd: Path) -> str:
    """Run ``command`` in ``cwd``; fail with its output unless it succeeds."""
    completed = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed.stdout


def commit_all(repository: Path, message: str) -> str:
    """Commit everything in ``repository``; return the new commit's id."""
    run("git", "add", "-A", cwd=repository)
    run("git", "commit", "-q", "-m", message, cwd=repository)
    return run("git", "rev-parse", "HEAD", cwd=repository).strip()


def cruft_create(template: Path, output: Path, answers: dict[str, str]) -> Path:
    """Create a git repository of a project from ``template`` in ``output``.

    cruft records the template and the answers in ``.cruft.json``. The
    project is committed here, not by the post-generation hook (``init_git``),
    which would first lock the dependencies: seconds of network that the
    fleet commands do not need.
    """
    output.mkdir()
    context = json.dumps({**answers, "init_git": "no"})
    run(
        CRUFT, "create", "--no-input", "--output-dir", str(output),
        "--extra-context", context, str(template),
        cwd=output,
    )  # fmt: skip
    (project,) = output.iterdir()
    run("git", "init", "-q", "-b", "main", cwd=project)
    commit_all(project, "Initial commit, template answers included")
    return project


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def install_java() -> bool:
    """Make sure ``java`` runs, installing Debian's JRE 17 where a test may: as root.

    PySpark needs Java 17 or newer. CI starts from a fresh machine and runs as
    root with apt-get; a developer without root installs a JDK once instead.
    Returns whether ``java`` is on the PATH now.
    """
    if shutil.which("java") is not None:
        return True
    apt_get = shutil.which("apt-get")
    if apt_get is None or os.geteuid() != 0:
        return False
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["install", "-y", "-qq", "--no-install-recommends"]
    for arguments in (["update", "-qq"], [*install, "openjdk-17-jre-headless"]):
        subprocess.run(
            [apt_get, *arguments], env=environment, capture_output=True, check=False
        )
    return shutil.which("java") is not None
