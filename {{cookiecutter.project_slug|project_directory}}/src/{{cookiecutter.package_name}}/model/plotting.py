"""Figures drawn without a display, importing matplotlib only when one is drawn."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FIGURE_SIZE = (6, 5)
"""Width and height of every figure, in inches."""


def new_figure() -> Figure:
    """Return an empty figure of the project's size, with constrained layout."""
    # Loading a saved model imports the task module for its estimator:
    # importing matplotlib only to plot keeps half a second out of every
    # prediction.
    from matplotlib.figure import Figure  # noqa: PLC0415

    return Figure(figsize=FIGURE_SIZE, layout="constrained")
