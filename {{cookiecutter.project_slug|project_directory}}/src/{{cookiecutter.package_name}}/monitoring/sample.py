"""A uniform sample of bounded size from a stream of table chunks (reservoir sampling).

``monitor`` reads current data of any size chunk by chunk; the drift tests
and live metrics run on such a sample, which equals the whole data up to its
capacity.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SAMPLE_ROWS = 100_000
"""Default capacity; tests on this many rows resolve any shift that matters."""


class Reservoir:
    """Keep a uniform random sample of at most ``capacity`` rows of many frames.

    Every row seen so far has the same chance to be in the sample
    (Vitter's algorithm R, a chunk at a time), whatever the number of rows.

    Parameters
    ----------
    capacity : int
        Most rows kept.
    seed : int
        Seeds the choice of rows, so that a rerun keeps the same sample.

    Examples
    --------
    >>> reservoir = Reservoir(capacity=3, seed=0)
    >>> reservoir.add(pd.DataFrame({"x": range(10)}))
    >>> reservoir.add(pd.DataFrame({"x": range(10, 20)}))
    >>> reservoir.seen, len(reservoir.sample())
    (20, 3)
    """

    def __init__(self, capacity: int = SAMPLE_ROWS, seed: int = 0) -> None:
        self.capacity = capacity
        self.seen = 0
        self._rng = np.random.default_rng(seed)
        self._parts: list[pd.DataFrame] = []
        self._rows: pd.DataFrame | None = None

    def add(self, chunk: pd.DataFrame) -> None:
        """Offer every row of ``chunk`` to the sample."""
        chunk = chunk.reset_index(drop=True)
        kept = self._kept_rows()
        free = min(max(self.capacity - kept, 0), len(chunk))
        if free:
            self._parts.append(chunk.iloc[:free])
            self.seen += free
        rest = chunk.iloc[free:]
        if len(rest):
            self._replace(rest)

    def sample(self) -> pd.DataFrame:
        """Return the rows kept so far, indexed from 0."""
        self._consolidate()
        return pd.DataFrame() if self._rows is None else self._rows

    def _kept_rows(self) -> int:
        held = 0 if self._rows is None else len(self._rows)
        return held + sum(len(part) for part in self._parts)

    def _consolidate(self) -> None:
        """Join the parts gathered while filling into one frame."""
        if self._parts:
            frames = [
                frame for frame in [self._rows, *self._parts] if frame is not None
            ]
            self._rows = pd.concat(frames, ignore_index=True)
            self._parts = []

    def _replace(self, rows: pd.DataFrame) -> None:
        """Let each of ``rows`` replace a kept row with the chance algorithm R gives."""
        kept = self.sample()
        # The i-th row seen (from 0) draws a slot from 0..i and takes it if
        # the slot is within the sample; of rows drawing one slot, the last wins.
        positions = self.seen + np.arange(len(rows))
        slots = self._rng.integers(0, positions + 1)
        chosen = np.flatnonzero(slots < self.capacity)
        _, last_first = np.unique(slots[chosen][::-1], return_index=True)
        winners = chosen[len(chosen) - 1 - last_first]
        updated = {}
        for column in kept.columns:
            values = kept[column].to_numpy(copy=True)
            values[slots[winners]] = rows[column].to_numpy()[winners]
            updated[column] = values
        self._rows = pd.DataFrame(updated)
        self.seen += len(rows)
