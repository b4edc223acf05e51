"""Fixtures shared by the template's test suite.

The suite has two tiers. The fast tier (``pytest -m "not slow"``) unit-tests
the hooks and renders the template without installing anything; the slow tier
(tests marked ``slow``) installs and exercises generated projects.

Shared constants and functions live in plain modules next to this file, which
the test modules import: ``helpers`` (the template, its options and hooks, the
offline checkers), ``baked`` (a rendered project) and ``installed`` (a
rendered project with its environment, for the slow tier). No test module
imports another.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from uv import find_uv_bin

# Failing asserts in the shared modules then explain themselves, as in tests;
# pytest rewrites a module's asserts only if registered before it is imported.
pytest.register_assert_rewrite("baked", "helpers", "installed")

from helpers import GIT_USER, write_git_config  # noqa: E402 (see the line above)


@pytest.fixture(scope="session", autouse=True)
def git_user(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Give every git the tests start the same user, whatever this machine has.

    Projects rendered with ``init_git=yes`` then always get their first commit.
    """
    config = write_git_config(tmp_path_factory.mktemp("git") / "gitconfig", GIT_USER)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GIT_CONFIG_GLOBAL", str(config))
        patch.setenv("GIT_CONFIG_NOSYSTEM", "1")
        yield config


@pytest.fixture
def uv_on_path(monkeypatch: pytest.MonkeyPatch) -> str:
    """Put the uv of this test environment first on the PATH; return it.

    The post-generation hook locks the dependencies with the uv it finds there.
    """
    uv = find_uv_bin()
    monkeypatch.setenv(
        "PATH", os.pathsep.join([str(Path(uv).parent), os.environ["PATH"]])
    )
    return uv
