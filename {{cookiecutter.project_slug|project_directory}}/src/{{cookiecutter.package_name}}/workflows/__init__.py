"""Workflows: the jobs the commands run, each composed from the layers below.

Each job is a module whose function of the same name (or two, for ``train``)
runs it: ``train`` fits, evaluates, saves, logs, registers and gates a model
(``upload`` logs a saved run later), with the gate's decision in
``promotion``; ``evaluate`` scores a logged model on labelled data;
``explain`` says which features a model relies on, and why it answered one
row as it did; ``check_data`` loads and summarizes the training data as
``train`` would, and ``reports`` writes the metrics and held-out predictions
of ``train`` and ``evaluate`` as files; ``tune`` searches the
hyperparameters, with the values found written into the config file by
``model_values``; ``predict`` applies a model to a data frame or to a file
of any size, and ``spark`` to a table on a Spark cluster; ``validate``
checks a table against a model's data contract; ``monitor`` compares live
data with a model's training reference; ``model_card`` exports the
champion's card into the docs. The modules are imported on use, so that a
job loads only what it needs.
"""

__all__ = [
    "check_data",
    "evaluate",
    "explain",
    "model_card",
    "model_values",
    "monitor",
    "predict",
    "promotion",
    "reports",
    "spark",
    "train",
    "tune",
    "validate",
]
