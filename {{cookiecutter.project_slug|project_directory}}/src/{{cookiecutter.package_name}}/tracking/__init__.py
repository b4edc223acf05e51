"""Tracking: MLflow connection, models as artifacts, provenance, saved runs, registry.

``connection`` points MLflow at the configured store and fails fast when a
server is down; ``artifacts`` logs, saves and loads models with their
signature; ``provenance`` records where a run came from; ``runs`` keeps every
trained run on disk until it is logged; ``registry`` holds all registry logic
(versions, the champion alias, the promotion gate's comparison and lineage,
rollback);
``local_server`` runs an MLflow server on 127.0.0.1 for development and tests.
"""

from .artifacts import (
    input_columns,
    load_configured_model,
    load_model,
    log_model,
    read_dtypes,
    save_model,
)
from .connection import (
    connect,
    reported_failures,
    started_run,
    tracking_uri,
)
from .local_server import RunningServer, tracking_server
from .provenance import log_provenance, provenance_tags, resolved_config
from .registry import (
    Lineage,
    VersionSummary,
    champion_uri,
    champion_version,
    crown,
    is_better,
    lineage_change,
    list_versions,
    promote,
    register,
    rollback,
    version_uri,
)
from .runs import (
    SavedRun,
    load_run,
    logged_as,
    mark_logged,
    remove_logged_files,
    save_run,
)

__all__ = [
    "Lineage",
    "RunningServer",
    "SavedRun",
    "VersionSummary",
    "champion_uri",
    "champion_version",
    "connect",
    "crown",
    "input_columns",
    "is_better",
    "lineage_change",
    "list_versions",
    "load_configured_model",
    "load_model",
    "load_run",
    "log_model",
    "log_provenance",
    "logged_as",
    "mark_logged",
    "promote",
    "provenance_tags",
    "read_dtypes",
    "register",
    "remove_logged_files",
    "reported_failures",
    "resolved_config",
    "rollback",
    "save_model",
    "save_run",
    "started_run",
    "tracking_server",
    "tracking_uri",
    "version_uri",
]
