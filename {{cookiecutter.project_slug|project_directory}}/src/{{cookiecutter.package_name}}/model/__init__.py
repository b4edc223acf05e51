"""Model: the task, the feature transformers and the pipeline built from them.

The task module (``task.py``: classification or regression, chosen when the
project was generated) is used everywhere through :data:`TASK`, typed by the
:class:`~{{ cookiecutter.package_name }}.model.contract.Task` contract.
"""

from .contract import TASK, Task
from .estimators import BoostedTreesEstimator
from .features import OutlierClipper
from .inference import LeanPredictor, checked_input
from .pipeline import build_pipeline, build_preprocessor

__all__ = [
    "TASK",
    "BoostedTreesEstimator",
    "LeanPredictor",
    "OutlierClipper",
    "Task",
    "build_pipeline",
    "build_preprocessor",
    "checked_input",
]
