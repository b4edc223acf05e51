"""Generated projects with their environment created, for the slow tier.

The named combinations of answers that the slow tier installs, the
interpreters they install on, and ``installed_project``: one rendered and
installed project per combination and session, which every slow module takes
its project from, so no environment is installed twice in one run.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from uv import find_uv_bin

from baked import BakedProject, Cookies, bake

# The default project (serving included), which the PostgreSQL and serving
# modules exercise too.
DEFAULT_COMBINATION = {
    "task": "classification",
    "python_version": "3.11",
    "ci": "github",
}
# Both tasks, several licenses, every CI, DVC, and each installed Python up to
# the newest this machine has (3.14 has no interpreter on it).
COMBINATIONS = [
    pytest.param(DEFAULT_COMBINATION, id="classification-py3.11-github"),
    pytest.param(
        {
            "task": "regression",
            "python_version": "3.12",
            "license": "Apache-2.0",
            "ci": "gitlab",
            "dvc": "yes",
        },
        id="regression-py3.12-gitlab-dvc",
    ),
    pytest.param(
        {
            "task": "classification",
            "python_version": "3.13",
            "license": "Proprietary",
            "ci": "none",
        },
        id="classification-py3.13-none",
    ),
]


def combination_answers(param: pytest.ParameterSet) -> dict[str, str]:
    """Return the answers of one of ``COMBINATIONS``."""
    (answers,) = param.values
    assert isinstance(answers, dict)
    return answers


def reports_version(interpreter: str, version: str) -> bool:
    """Whether ``interpreter`` runs and is Python ``version`` (pyenv shims may not)."""
    code = "import sys; print('%d.%d' % sys.version_info[:2])"
    completed = subprocess.run(
        [interpreter, "-c", code], capture_output=True, text=True, check=False
    )
    return completed.returncode == 0 and completed.stdout.strip() == version


def find_interpreter(version: str) -> str | None:
    """Return a working Python ``version`` interpreter of this machine, if any."""
    pattern = os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python{version}")
    candidates = [*sorted(glob.glob(pattern), reverse=True)]
    on_path = shutil.which(f"python{version}")
    if on_path:
        candidates.append(on_path)
    return next((path for path in candidates if reports_version(path, version)), None)


def subprocess_environment(uv: str) -> dict[str, str]:
    """Environment for commands in a generated project, outside this test venv."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"VIRTUAL_ENV", "UV_COMPILE_BYTECODE", "PYTHONPATH"}
    }
    env["PATH"] = os.pathsep.join([str(Path(uv).parent), env.get("PATH", "")])
    env["UV_PYTHON_DOWNLOADS"] = "never"
    env["UV_NO_PROGRESS"] = "1"
    return env


@dataclass(frozen=True)
class Project(BakedProject):
    """A rendered project with its environment created."""

    uv: str

    def environment(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """Environment for commands in the project, plus ``extra`` variables."""
        return {**subprocess_environment(self.uv), **(extra or {})}

    def cli(
        self, *arguments: str, extra_env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run the project's console script from its environment."""
        script = str(self.path / ".venv" / "bin" / self.slug)
        return self.run(script, *arguments, extra_env=extra_env)


_INSTALLED: dict[tuple[tuple[str, str], ...], Project] = {}


def installed_project(cookies_session: Cookies, answers: dict[str, str]) -> Project:
    """Render a project with ``answers`` and create its environment, once per session.

    The environment is made on the interpreter of the project's minimum
    Python; the test is skipped if this machine does not have it. Made as the
    README's first command makes it, from the lock of the first commit, it
    must leave ``git status`` clean.
    """
    key = tuple(sorted(answers.items()))
    if key not in _INSTALLED:
        interpreter = find_interpreter(answers["python_version"])
        if interpreter is None:
            pytest.skip(f"Python {answers['python_version']} is not on this machine")
        uv = find_uv_bin()
        with pytest.MonkeyPatch.context() as patch:
            # The hook locks with the uv on the PATH, which needs that Python
            # too (pyenv shims may hide it).
            patch.setenv(
                "PATH", os.pathsep.join([str(Path(uv).parent), os.environ["PATH"]])
            )
            patch.setenv("UV_PYTHON", interpreter)
            baked = bake(cookies_session, **answers)
        created = Project(baked.path, baked.answers, uv)
        created.run(created.uv, "sync", "--compile-bytecode", "--python", interpreter)
        assert created.run("git", "ls-files", "uv.lock").stdout == "uv.lock\n"
        assert created.run("git", "status", "--porcelain").stdout == ""
        _INSTALLED[key] = created
    return _INSTALLED[key]
