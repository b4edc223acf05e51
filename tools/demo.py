"""Render a project with the default answers and run its demo, offline.

``python3 tools/demo.py [OUTPUT_DIR]`` renders the template into OUTPUT_DIR
(default: ``build/demo``, replaced if it exists), creates the project's
environment with uv, then trains, evaluates, explains, tunes, predicts,
validates and monitors with the project's own command-line interface on its
bundled demo data.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from bootstrap import REPO, find_uv, uv_environment

DEFAULT_OUTPUT = REPO / "build" / "demo"


def step(title: str, command: list[str], cwd: Path) -> None:
    """Print ``title``, run ``command`` in ``cwd``; stop the demo if it fails."""
    print(f"\n=== {title}\n$ {' '.join(command)}", flush=True)
    completed = subprocess.run(command, cwd=cwd, env=uv_environment(), check=False)
    if completed.returncode != 0:
        sys.exit(f"Error: '{title}' failed with exit status {completed.returncode}")


def rendered_project(output: Path) -> Path:
    """Return the one project directory that rendering created in ``output``."""
    (project,) = (path for path in output.iterdir() if path.is_dir())
    return project


def main(arguments: list[str]) -> int:
    """Render, install and run the demo project; return 0 when all worked."""
    uv = find_uv()
    output = Path(arguments[0]).resolve() if arguments else DEFAULT_OUTPUT
    shutil.rmtree(output, ignore_errors=True)
    output.mkdir(parents=True)
    render = [uv, "run", "--locked", "cookiecutter", str(REPO), "--no-input"]
    step("Render the template", [*render, "-o", str(output)], REPO)
    project = rendered_project(output)
    cli = [uv, "run", project.name]
    step("Create the environment", [uv, "sync", "--compile-bytecode"], project)
    step("Train", [*cli, "train"], project)
    step("Evaluate the champion", [*cli, "evaluate"], project)
    step("Explain which features the champion relies on", [*cli, "explain"], project)
    tune = [*cli, "tune", "--trials", "5"]
    step("Search the hyperparameters (5 trials)", tune, project)
    predict = [*cli, "predict", "data/penguins.csv", "--output", "predictions.csv"]
    step("Predict", predict, project)
    validate = [*cli, "validate", "data/penguins.csv"]
    step("Check the data against the champion's contract", validate, project)
    monitor = [*cli, "monitor", "--current", "data/penguins.csv"]
    step("Compare the data with the champion's training rows", monitor, project)
    print(f"\nDone: project in {project}, predictions in {project}/predictions.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
