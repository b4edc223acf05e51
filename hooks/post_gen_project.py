"""Remove the files of options the user did not choose, then print next steps.

Each option value owns whole files (listed in ``OPTION_FILES``); the files of
every value that was not chosen are deleted, so generated code never carries
Jinja if-blocks for features the project does not have. Answers arrive as
a JSON document parsed with ``json.loads``, never as code.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

# option -> value -> paths (relative to the project, ``{package}`` expanded)
# that exist only when that value is chosen.
OPTION_FILES: dict[str, dict[str, list[str]]] = {
    "task": {
        "classification": [
            "src/{package}/classification.py",
            "tests/test_classification.py",
        ],
        "regression": [
            "src/{package}/regression.py",
            "tests/test_regression.py",
        ],
    },
    "serving": {
        "yes": [
            "docs/serving.md",
            "src/{package}/serving",
            "tests/test_serving.py",
        ],
        "no": [],
    },
    "docker": {
        "yes": [".dockerignore", "Dockerfile"],
        "no": [],
    },
}


def unselected_paths(answers: Mapping[str, Any]) -> Iterator[str]:
    """Yield the relative paths owned by option values that were not chosen."""
    for option, files_by_value in OPTION_FILES.items():
        for value, paths in files_by_value.items():
            if answers[option] != value:
                for path in paths:
                    yield path.format(package=answers["package_name"])


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
        ]
    )


def main(answers_json: str) -> int:
    """Prune the rendered project in the working directory and print next steps."""
    answers = json.loads(answers_json)
    remove_unselected(Path.cwd(), answers)
    print(next_steps(answers))
    return 0


if __name__ == "__main__":
    sys.exit(main(r"""{{ cookiecutter | tojson }}"""))
