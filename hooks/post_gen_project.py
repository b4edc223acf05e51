"""Remove the files of options the user did not choose, start git, print next steps.

Each option value owns whole files (listed in ``OPTION_FILES``); the files of
every value that was not chosen are deleted, so generated code never carries
Jinja if-blocks for features the project does not have. The chosen task's
files then take fixed names (``FIXED_NAMES``), so code imports them under one
name whatever the task. With ``dvc``, the demo data is put into the
project's DVC cache, where ``dvc add`` would have put it.

With ``init_git``, the dependencies are locked first, so that the first commit
holds ``uv.lock`` and CI can install with ``--locked`` from the start: when
``uv`` is on the PATH, ``uv lock`` asks the package index (2 to 7 s measured)
with short HTTP timeouts and an overall limit, so that a machine whose network
drops packets gives up in seconds instead of hanging (uv's defaults retry for
about two minutes); without an index, ``uv lock --offline`` resolves from
uv's cache (about 0.2 s), which may pin older versions than the index has
(``uv lock --upgrade`` moves them on). No Python is downloaded for it. If uv
is missing or both attempts fail, one line says how to make the lock; without
``init_git`` nothing is locked, and the first ``uv sync`` writes ``uv.lock``.
The project then becomes a git repository on branch ``main``, with a first
commit when git knows who the author is: from its configuration or from
``GIT_AUTHOR_*`` and ``GIT_COMMITTER_*`` variables. Answers arrive as a JSON
document parsed with ``json.loads``, never as code.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

# option -> value -> paths (relative to the project, ``{package}`` expanded)
# that exist only when that value is chosen.
OPTION_FILES: dict[str, dict[str, list[str]]] = {
    "task": {
        "classification": [
            "src/{package}/model/classification.py",
            "tests/test_classification.py",
        ],
        "regression": [
            "src/{package}/model/regression.py",
            "tests/test_regression.py",
        ],
    },
    "ci": {
        "github": [".github"],
        "gitlab": [".gitlab", ".gitlab-ci.yml"],
        "none": [],
    },
    "serving": {
        "yes": [
            "docs/serving.md",
            "src/{package}/cli/serve.py",
            "src/{package}/serving",
            "tests/test_batching.py",
            "tests/test_metrics.py",
            "tests/test_prediction_log.py",
            "tests/test_serving.py",
            "tests/test_shadow.py",
        ],
        "no": [],
    },
    "docker": {
        "yes": [".dockerignore", "Dockerfile"],
        "no": [],
    },
    "dvc": {
        "no": [],
        "yes": [
            ".dvc",
            ".dvcignore",
            "data/penguins.csv.dvc",
            "docs/dvc.md",
            "dvc.yaml",
            "tests/test_dvc.py",
        ],
    },
}
# Files of the chosen task that take a name shared by every task, so that code,
# tests and docs import and cite them the same way, without Jinja:
# template path -> project path (``{package}`` and ``{task}`` expanded).
FIXED_NAMES: dict[str, str] = {
    "src/{package}/model/{task}.py": "src/{package}/model/task.py",
    "tests/test_{task}.py": "tests/test_task.py",
}
INITIAL_BRANCH = "main"
# Bounds of the online ``uv lock``: seconds per HTTP request, retries of a failed
# request, and seconds for the whole resolution (7 s measured with a cold cache).
LOCK_HTTP_TIMEOUT = "10"
LOCK_HTTP_RETRIES = "1"
LOCK_TIMEOUT = 120
# Variables that would make ``uv lock`` check an existing lock instead of writing one.
LOCK_BLOCKING_VARIABLES = ("UV_LOCKED", "UV_FROZEN")
INITIAL_COMMIT_MESSAGE = "Initial commit from the ml-template"
# The data file DVC versions in a project with ``dvc``, and where DVC 3 keeps
# a file of a given MD5 in its cache: files/md5/<first 2 hex digits>/<the rest>.
DVC_DATA_FILE = "data/penguins.csv"
DVC_CACHE_FILES = ".dvc/cache/files/md5"


def unselected_paths(answers: Mapping[str, Any]) -> Iterator[str]:
    """Yield the relative paths owned by option values that were not chosen."""
    for option, files_by_value in OPTION_FILES.items():
        for value, paths in files_by_value.items():
            if answers[option] != value:
                for path in paths:
                    yield path.format(package=answers["package_name"])


def fixed_name_moves(answers: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """Yield (template path, project path) for each file that takes a fixed name."""
    names = {"package": answers["package_name"], "task": answers["task"]}
    for source, destination in FIXED_NAMES.items():
        yield source.format(**names), destination.format(**names)


def remove_unselected(project: Path, answers: Mapping[str, Any]) -> list[Path]:
    """Delete the unselected files and directories; return what was removed."""
    removed = []
    for relative in unselected_paths(answers):
        path = project / relative
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
        removed.append(path)
    return removed


def move_to_fixed_names(project: Path, answers: Mapping[str, Any]) -> None:
    """Give the chosen task's files their fixed names."""
    for source, destination in fixed_name_moves(answers):
        (project / source).rename(project / destination)


def dvc_recorded_md5(dvc_file: Path) -> str:
    """Return the MD5 that a ``.dvc`` file records for its one output.

    The file is the template's own, so a plain reading of its ``md5:`` line
    suffices; no YAML parser is needed at render time.
    """
    for line in dvc_file.read_text(encoding="utf-8").splitlines():
        key, _, value = line.strip().removeprefix("- ").partition(":")
        if key == "md5":
            return value.strip()
    raise ValueError(f"{dvc_file} records no md5")


def cache_dvc_data(project: Path) -> Path:
    """Put the demo data into the project's DVC cache; return the cached file.

    DVC then finds the file it versions in its cache, as if ``dvc add`` had
    run: ``dvc status`` is clean and ``dvc push`` uploads it at once, without
    DVC being installed at render time. Like DVC, the cached copy is made
    read-only, so that no edit reaches it through a link.
    """
    data = project / DVC_DATA_FILE
    md5 = dvc_recorded_md5(data.with_name(f"{data.name}.dvc"))
    cached = project / DVC_CACHE_FILES / md5[:2] / md5[2:]
    cached.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(data, cached)
    cached.chmod(0o444)
    return cached


def next_steps(answers: Mapping[str, Any]) -> str:
    """Return the message that tells the user what to run first."""
    slug = answers["project_slug"]
    return "\n".join(
        [
            f"Created {slug}. Next steps:",
            f"  cd {slug}",
            "  uv sync                      # or: make install",
            f"  uv run {slug} train           # train, register, gate @champion",
            f"  uv run {slug} evaluate",
            f"  uv run {slug} predict data/penguins.csv --output predictions.csv",
            "  make check                   # lint, type check and tests",
            "  uv run pre-commit install    # the same checks before every commit",
        ]
    )


def git(project: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    """Run ``git`` with ``arguments`` in ``project``; never raise on failure."""
    return subprocess.run(
        ["git", *arguments],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )


def git_identity_known(project: Path) -> bool:
    """Whether git knows the author and committer of a commit in ``project``.

    ``git var`` answers as ``git commit`` would: from ``user.name`` and
    ``user.email`` in any configuration, or from the ``GIT_AUTHOR_*`` and
    ``GIT_COMMITTER_*`` variables that CI systems set instead.
    """
    return all(
        git(project, "var", variable).returncode == 0
        for variable in ("GIT_AUTHOR_IDENT", "GIT_COMMITTER_IDENT")
    )


def init_repository(project: Path) -> str:
    """Make ``project`` a git repository with every file staged.

    The first commit is made only when git has a user configured; otherwise
    the returned message says how to make it. Nothing touches the network.
    """
    if shutil.which("git") is None:
        return (
            "git was not found: no repository created (install git, then `git init`)."
        )
    for arguments in (
        ["init", "--quiet", f"--initial-branch={INITIAL_BRANCH}"],
        ["add", "-A"],
    ):
        completed = git(project, *arguments)
        if completed.returncode != 0:
            return f"git {arguments[0]} failed: {completed.stderr.strip()}"
    if not git_identity_known(project):
        return "\n".join(
            [
                f"Created a git repository (branch {INITIAL_BRANCH}), files staged.",
                "git has no user configured, so nothing was committed. Run:",
                '  git config --global user.name "Your Name"',
                '  git config --global user.email "you@example.com"',
                f'  git commit -m "{INITIAL_COMMIT_MESSAGE}"',
            ]
        )
    commit = git(
        project, "commit", "--quiet", "--no-verify", "-m", INITIAL_COMMIT_MESSAGE
    )
    if commit.returncode != 0:
        return f"git commit failed: {commit.stderr.strip()}"
    return f"Created a git repository on branch {INITIAL_BRANCH} with a first commit."


def run_uv_lock(
    uv: str, project: Path, *options: str
) -> subprocess.CompletedProcess[str]:
    """Run ``uv lock`` in ``project``, within ``LOCK_TIMEOUT`` seconds.

    Raises
    ------
    subprocess.TimeoutExpired
        If uv did not finish in time; it has then been stopped.
    """
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in LOCK_BLOCKING_VARIABLES
    }
    # The user's own settings win: a slow mirror may need longer timeouts.
    environment.setdefault("UV_HTTP_TIMEOUT", LOCK_HTTP_TIMEOUT)
    environment.setdefault("UV_HTTP_RETRIES", LOCK_HTTP_RETRIES)
    return subprocess.run(
        [uv, "lock", "--quiet", "--no-python-downloads", *options],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=LOCK_TIMEOUT,
    )


def uv_error(stderr: str) -> str:
    """Return uv's error in one line: what failed and, if given, its last cause."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if not lines:
        return "uv gave no reason"
    causes = [line for line in lines if line.startswith("cause: ")]
    summary = lines[0].removeprefix("error: ").rstrip(".")
    if causes:
        summary += ": " + causes[-1].removeprefix("cause: ").rstrip(".")
    return summary


def lock_dependencies(project: Path) -> str:
    """Write ``uv.lock`` in ``project``; return one line saying what happened.

    The lock is resolved from the package index, or else from uv's cache;
    see the module docstring for how the attempt at the index is bounded.
    """
    uv = shutil.which("uv")
    if uv is None:
        return "uv was not found: no uv.lock (install uv, then run `uv lock`)."
    try:
        online = run_uv_lock(uv, project)
    except subprocess.TimeoutExpired:
        reason = f"uv lock did not finish within {LOCK_TIMEOUT} s"
    else:
        if online.returncode == 0:
            return "Locked the dependencies in uv.lock."
        reason = uv_error(online.stderr)
    if run_uv_lock(uv, project, "--offline").returncode == 0:
        return f"Locked the dependencies in uv.lock from uv's cache ({reason})."
    return f"No uv.lock: {reason}. Once that is fixed, run `uv lock` and commit it."


def main(answers_json: str) -> int:
    """Prune the rendered project in the working directory and print next steps."""
    answers = json.loads(answers_json)
    project = Path.cwd()
    remove_unselected(project, answers)
    move_to_fixed_names(project, answers)
    if answers["dvc"] == "yes":
        cache_dvc_data(project)
    if answers["init_git"] == "yes":
        print(lock_dependencies(project))
        print(init_repository(project))
    print(next_steps(answers))
    return 0


if __name__ == "__main__":
    sys.exit(main(r"""{{ cookiecutter | tojson }}"""))
