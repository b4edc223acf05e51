"""Helper of serving.py, run with the rendered project's own python.

``payload OUT_DIR``: write the single-row ``dataframe_split`` request body,
a row of the bundled demo data with the model's signature columns.
``inprocess PAYLOAD REPEATS``: time ``pipeline.predict`` on the payload's
row, model already loaded (the ceiling of one client). Every mode prints one
JSON object.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlflow.pyfunc import PyFuncModel

MODEL_URI = "models:/{slug}@champion"
DEMO_DATA = Path("data", "penguins.csv")
WARM_UP = 50


def summary(
    rate: str, latencies: list[float], predictions: list[object]
) -> dict[str, object]:
    """Return the rate (named ``rate``), the p50 and p99 latencies, the answers.

    The rate is the number of timed calls divided by the sum of their seconds.
    """
    ordered = sorted(latencies)
    return {
        rate: len(ordered) / sum(ordered),
        "p50_ms": 1000 * statistics.median(ordered),
        "p99_ms": 1000 * ordered[int(0.99 * (len(ordered) - 1))],
        "predictions": predictions,
    }


def load(slug: str) -> PyFuncModel:
    """Load the champion through pyfunc from the project's local store."""
    import mlflow  # noqa: PLC0415 (the client mode needs only the standard library)

    mlflow.set_tracking_uri("sqlite:///mlflow.db")
    return mlflow.pyfunc.load_model(MODEL_URI.format(slug=slug))


def payload(slug: str, out_dir: Path) -> dict[str, str]:
    """Write the single-row request body; return its path."""
    import pandas as pd  # noqa: PLC0415 (imported only where a mode needs it)

    model = load(slug)
    names = list(model.metadata.signature.inputs.input_names())
    # Row 3 of the demo data holds missing values.
    sample = pd.read_csv(DEMO_DATA)[names].iloc[[3]]
    records = sample.astype(object).where(sample.notna(), None)
    body = {"dataframe_split": {"columns": names, "data": records.to_numpy().tolist()}}
    path = out_dir / "payload_1.json"
    path.write_text(json.dumps(body), encoding="utf-8")
    return {"path": str(path)}


def inprocess(slug: str, payload: Path, repeats: int) -> dict[str, object]:
    """Time ``pipeline.predict`` alone on the payload's rows, one thread."""
    import pandas as pd  # noqa: PLC0415 (imported only where a mode needs it)
    from threadpoolctl import threadpool_limits  # noqa: PLC0415 (likewise)

    model = load(slug)
    pipeline = model.get_raw_model()
    # After the model load, so that scikit-learn's OpenMP runtime is loaded.
    threadpool_limits(1)
    split = json.loads(payload.read_text(encoding="utf-8"))["dataframe_split"]
    dtypes = {
        spec.name: "object" if spec.type.name == "string" else "float64"
        for spec in model.metadata.signature.inputs.inputs
    }
    df = pd.DataFrame(split["data"], columns=split["columns"], dtype=object)
    df = df.astype(dtypes)
    for _ in range(WARM_UP):
        pipeline.predict(df)
    latencies = []
    for _ in range(repeats):
        start = time.perf_counter()
        pipeline.predict(df)
        latencies.append(time.perf_counter() - start)
    return summary("calls_per_s", latencies, pipeline.predict(df).tolist())


def main(argv: list[str]) -> None:
    """Run one mode and print its JSON result."""
    slug = Path.cwd().name
    mode, *rest = argv
    result: dict[str, str] | dict[str, object]
    if mode == "payload":
        result = payload(slug, Path(rest[0]))
    else:
        result = inprocess(slug, Path(rest[0]), int(rest[1]))
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
