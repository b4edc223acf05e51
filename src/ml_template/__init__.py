"""ml-template: the production machine-learning package template, installable.

The package ships the Cookiecutter template (``cookiecutter.json``, ``hooks/``,
``templates/`` and the project directory) and the ``ml-template`` command that
renders it. ``TEMPLATE_DIR`` is the template's root directory: the copy packed
into the wheel when installed, or the repository root in a development checkout.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def _find_template_dir() -> Path:
    """Return the packaged template if there is one, else the repository root.

    A wheel carries the template in ``ml_template/template/``; an editable
    install imports this file from ``src/ml_template/`` of the repository,
    whose root is the template itself.
    """
    packaged = _PACKAGE_DIR / "template"
    if (packaged / "cookiecutter.json").is_file():
        return packaged
    return _PACKAGE_DIR.parent.parent


TEMPLATE_DIR: Path = _find_template_dir()

__all__ = ["TEMPLATE_DIR"]
