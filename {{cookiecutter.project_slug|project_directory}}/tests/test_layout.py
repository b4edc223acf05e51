"""The package's layout: imports flow one way, every module is documented.

Each subpackage states its job in its docstring and its public API in
``__all__``; ``docs/layout.md`` names every module; the layers of
``[tool.importlinter]`` in ``pyproject.toml`` hold.
"""

import importlib
import importlib.util
import pkgutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import {{ cookiecutter.package_name }} as package

from .conftest import PROJECT_ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
PACKAGE_DIR = Path(package.__file__).parent


def subpackages() -> list[str]:
    """Return the names of the package's subpackages."""
    return sorted(
        module.name for module in pkgutil.iter_modules(package.__path__) if module.ispkg
    )


def documented_names() -> set[str]:
    """Return every module path of the package, as docs/layout.md must name it.

    A module is named by its path below the package (``data/tables.py``), a
    subpackage by its directory (``data/``).
    """
    names = set()
    for path in PACKAGE_DIR.rglob("*.py"):
        relative = path.relative_to(PACKAGE_DIR)
        if relative.name == "__init__.py" and relative.parent != Path():
            names.add(f"{relative.parent.as_posix()}/")
        else:
            names.add(relative.as_posix())
    return names


def test_imports_flow_from_the_top_layer_down() -> None:
    completed = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "1 kept, 0 broken" in completed.stdout


def test_layout_page_names_every_module() -> None:
    page = (PROJECT_ROOT / "docs" / "layout.md").read_text(encoding="utf-8")

    missing = sorted(name for name in documented_names() if f"`{name}`" not in page)

    assert subpackages()
    assert missing == []


@pytest.mark.parametrize("name", subpackages())
def test_subpackage_declares_its_job_and_public_api(name: str) -> None:
    subpackage: ModuleType = importlib.import_module(f"{package.__name__}.{name}")

    public = subpackage.__all__

    assert (subpackage.__doc__ or "").strip()
    assert public
    for item in public:
        found = hasattr(subpackage, item) or importlib.util.find_spec(
            f"{subpackage.__name__}.{item}"
        )
        assert found, f"{name}.__all__ names {item!r}, which does not exist"
