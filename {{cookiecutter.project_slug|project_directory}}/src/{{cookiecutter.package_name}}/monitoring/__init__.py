"""Monitoring: what the scoring service records, and how far live data drifted.

The prediction log's format lives here, so that the service writing it and
``monitor`` reading it agree; the drift statistics compare a table with the
reference sample stored next to each model.

``log_format`` fixes the log's columns and file names; ``reference`` builds
the training sample stored with each model; ``drift`` holds the statistics
and the drift rule; ``sample`` and ``summary`` reduce current data of any
size to counts and bounded samples; ``alerts`` applies the thresholds;
``report`` writes the Markdown report and its plots; ``shadow_log`` fixes
the shadow log's format and reads a challenger's agreement from it. The
modules are imported on use: ``serve`` needs only ``log_format`` and
``shadow_log``.
"""

__all__ = [
    "alerts",
    "drift",
    "log_format",
    "reference",
    "report",
    "sample",
    "shadow_log",
    "summary",
]
