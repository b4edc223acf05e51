"""The ``{{ cookiecutter.package_name }}`` machine-learning package."""

import logging
from importlib.metadata import version

__version__ = version("{{ cookiecutter.project_slug }}")

# A library never configures logging: the CLI (or the host application) does.
logging.getLogger(__name__).addHandler(logging.NullHandler())
