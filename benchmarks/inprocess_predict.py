"""Time in-process batch prediction with the champion model; used by ``run.py``.

Runs with the generated project's interpreter (it needs MLflow, pandas and
PyYAML), in the project directory, so that ``sqlite:///mlflow.db`` is the
project's tracking database. It loads the model the way a notebook would
(``mlflow.sklearn.load_model``), reads the whole CSV with pandas, and times
``pipeline.predict`` alone. It writes one JSON object to ``--json``: the
seconds spent importing, loading, reading and predicting, the seconds from
the start of this script to the end of prediction, the peak resident memory
at that point, and whether the predictions equal those of the CLI.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import argparse  # noqa: E402 (the clock starts before any import)
import json  # noqa: E402 (after the clock starts)
import resource  # noqa: E402 (after the clock starts)
from collections.abc import Sequence  # noqa: E402 (after the clock starts)
from pathlib import Path  # noqa: E402 (after the clock starts)
from typing import TYPE_CHECKING, Any, Protocol  # noqa: E402 (after the clock starts)

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


class Pipeline(Protocol):
    """What this script uses of the fitted scikit-learn pipeline."""

    feature_names_in_: Sequence[str]

    def predict(self, frame: pd.DataFrame) -> np.ndarray[Any, Any]:
        """Return one prediction per row of ``frame``."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Return the command-line arguments."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, required=True, help="CSV to predict")
    parser.add_argument("--model-uri", required=True, help="e.g. models:/x@champion")
    parser.add_argument("--tracking-uri", default="sqlite:///mlflow.db")
    parser.add_argument("--config", type=Path, default=Path("config.yaml"))
    parser.add_argument("--expected", type=Path, help="CLI output to compare with")
    parser.add_argument("--json", type=Path, required=True, help="where to write")
    return parser.parse_args(argv)


def import_libraries() -> None:
    """Import the heavy libraries, so that their cost is timed on its own."""
    import mlflow.sklearn  # noqa: F401, PLC0415 (timed on its own, on purpose)
    import pandas  # noqa: F401, PLC0415 (timed on its own, on purpose)
    import yaml  # noqa: F401, PLC0415 (timed on its own, on purpose)


def categorical_features(config: Path) -> list[str]:
    """Return the categorical feature columns named in the project config."""
    import yaml  # noqa: PLC0415 (imported, and timed, by import_libraries)

    settings = yaml.safe_load(config.read_text(encoding="utf-8"))
    return list(settings["data"].get("categorical_features", []))


def load_pipeline(model_uri: str, tracking_uri: str) -> Pipeline:
    """Load the scikit-learn pipeline registered at ``model_uri``."""
    import mlflow.sklearn  # noqa: PLC0415 (imported, and timed, by import_libraries)

    mlflow.set_tracking_uri(tracking_uri)
    pipeline: Pipeline = mlflow.sklearn.load_model(model_uri)
    return pipeline


def read_input(path: Path, text_columns: list[str]) -> pd.DataFrame:
    """Read the whole CSV, with the categorical columns as Python objects."""
    import pandas as pd  # noqa: PLC0415 (imported, and timed, by import_libraries)

    return pd.read_csv(path, dtype=dict.fromkeys(text_columns, object))


def same_predictions(
    predictions: np.ndarray[Any, Any], expected: Path | None
) -> bool | None:
    """Return whether ``predictions`` equal the CLI's output file, if given."""
    if expected is None:
        return None
    import numpy as np  # noqa: PLC0415 (loaded with pandas by import_libraries)
    import pandas as pd  # noqa: PLC0415 (imported, and timed, by import_libraries)

    cli = pd.read_csv(expected)["prediction"].to_numpy()
    if len(cli) != len(predictions):
        return False
    if np.issubdtype(np.asarray(predictions).dtype, np.number):
        return bool(np.allclose(cli, predictions, rtol=1e-9, atol=0.0))
    return bool((cli.astype(str) == np.asarray(predictions).astype(str)).all())


def peak_rss_mb() -> float:
    """Return this process's peak resident set size so far, in MiB (Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    """Load, read, predict and write the timings as JSON."""
    args = parse_args(argv)
    marks = [time.perf_counter()]
    import_libraries()
    marks.append(time.perf_counter())
    pipeline = load_pipeline(args.model_uri, args.tracking_uri)
    marks.append(time.perf_counter())
    frame = read_input(args.input, categorical_features(args.config))
    marks.append(time.perf_counter())
    predictions = pipeline.predict(frame[list(pipeline.feature_names_in_)])
    marks.append(time.perf_counter())
    result: dict[str, object] = {
        "rows": len(frame),
        "import_s": marks[1] - marks[0],
        "load_s": marks[2] - marks[1],
        "read_s": marks[3] - marks[2],
        "predict_s": marks[4] - marks[3],
        "elapsed_s": marks[4] - STARTED,
        "peak_mb": peak_rss_mb(),
    }
    del frame
    result["matches_cli"] = same_predictions(predictions, args.expected)
    args.json.write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
