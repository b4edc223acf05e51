"""Exporting the champion's model card, as its training run logged it, into the docs."""

from __future__ import annotations

from pathlib import Path

from mlflow.artifacts import load_text
from mlflow.exceptions import MlflowException

from ..config import TrackingConfig
from ..errors import ModelError
from ..evaluation import CARD_ARTIFACT, with_version_note
from ..files import write_text_atomically
from ..tracking.connection import connect, reported_failures
from ..tracking.registry import get_version, require_champion


def export_champion_card(config: TrackingConfig, path: Path) -> str:
    """Write the champion's model card to ``path``; return the champion's version.

    Raises
    ------
    ModelError
        If the model is unknown, has no champion, or its run logged no card.
    TrackingError
        If the tracking server fails.
    ProjectError
        If ``path`` cannot be written.
    """
    with reported_failures(config):
        client = connect(config)
        version = require_champion(client, config, ": train one first")
        run_id = get_version(client, config, version).run_id
        try:
            card_text = load_text(f"runs:/{run_id}/{CARD_ARTIFACT}")
        except (MlflowException, OSError) as error:
            raise ModelError(
                f"version {version} of {config.registered_model!r} has no model card"
                " (its run logged none)"
            ) from error
    write_text_atomically(path, with_version_note(card_text, version, config))
    return version
