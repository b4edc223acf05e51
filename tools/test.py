"""Run the template's test suite: ``python3 tools/test.py [pytest options]``.

Creates the template's development environment from ``uv.lock`` and runs
pytest in it: both tiers by default, ``-m "not slow"`` for the fast tier.
A run that collects no test fails, like any other failure.
"""

from __future__ import annotations

import subprocess
import sys

from bootstrap import REPO, find_uv, uv_environment

PYTEST_NO_TESTS_COLLECTED = 5


def main(arguments: list[str]) -> int:
    """Sync the environment, run pytest with ``arguments``, return its status."""
    uv = find_uv()
    command = [uv, "run", "--locked", "pytest", *arguments]
    status = subprocess.run(command, cwd=REPO, env=uv_environment(), check=False)
    if status.returncode == PYTEST_NO_TESTS_COLLECTED:
        print("Error: pytest collected no tests", file=sys.stderr)
        return 1
    return status.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
