"""Find or install uv, so that a machine with only Python 3 and git can start.

Used by ``demo.py`` and ``test.py``; standard library only.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BOOTSTRAP_VENV = REPO / ".bootstrap"


def _venv_bin(root: Path) -> Path:
    return root / ("Scripts" if os.name == "nt" else "bin")


def find_uv() -> str:
    """Return the path of a uv executable, installing it from PyPI if needed.

    uv on the PATH is used as is; otherwise it is installed with pip into a
    private virtual environment, ``.bootstrap/``, inside the repository.
    """
    on_path = shutil.which("uv")
    if on_path:
        return on_path
    installed = shutil.which("uv", path=str(_venv_bin(BOOTSTRAP_VENV)))
    if installed:
        return installed
    print("Installing uv into .bootstrap/ (one time)...", flush=True)
    venv.create(BOOTSTRAP_VENV, with_pip=True, clear=True)
    pip = [str(_venv_bin(BOOTSTRAP_VENV) / "python"), "-m", "pip"]
    install = [*pip, "install", "--quiet", "--disable-pip-version-check", "uv"]
    subprocess.run(install, check=True)
    found = shutil.which("uv", path=str(_venv_bin(BOOTSTRAP_VENV)))
    if not found:
        sys.exit("Error: uv was installed but cannot be found in .bootstrap/")
    return found


def uv_environment() -> dict[str, str]:
    """Return the environment for uv: local interpreters only, never a download.

    The interpreter running this script comes first on the PATH, so uv finds it
    even where ``python3`` is not on the PATH under that name.
    """
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
    return {**os.environ, "PATH": path, "UV_PYTHON_DOWNLOADS": "never"}
