"""Command-line interface: thin Click commands over the workflows.

Heavy libraries (pandas, scikit-learn, MLflow) are imported inside the
commands, so ``--help`` and ``--version`` answer at once.
"""

from .commands import cli, main

__all__ = ["cli", "main"]
