"""Shadow scoring: a challenger scores what the champion scored, unseen by clients.

The request handler hands each answered request to :class:`ShadowScorer`,
which only puts it on a bounded queue. The shadow log's writer thread has the
challenger score the queued rows in one batch whenever a file is due
(``rows_per_file`` rows or ``flush_seconds``), compares its answers with the
champion's, counts them for ``/metrics`` and writes them in the format of
``monitoring/shadow_log.py``. Clients only ever get the champion's answers; a
challenger that fails is counted and logged, nothing else.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from ..config import Settings, ShadowLogConfig
from ..errors import ConfigError
from ..monitoring import shadow_log
from .metrics import ShadowMetrics
from .model import ServedModel
from .prediction_log import (
    QUEUE_REQUESTS,
    WARNING_INTERVAL_SECONDS,
    ParquetLog,
    logged_predictions,
    repeated_text,
)

logger = logging.getLogger(__name__)

ALIAS = re.compile(r"[A-Za-z][\w-]*")
"""A registry alias, such as ``challenger``; anything else is a model URI."""


@dataclass(frozen=True)
class ShadowRequest:
    """One answered request, as the handler hands it over.

    Attributes
    ----------
    features : pandas.DataFrame
        The checked input rows, in the champion's column order.
    champion_predictions : numpy.ndarray
        The champion's answer for each row, as sent to the client.
    request_id : str
        The request's ID, sent back in ``X-Request-ID``.
    scored_at : datetime.datetime
        When the champion scored the request (UTC).
    """

    features: pd.DataFrame
    champion_predictions: np.ndarray[Any, Any]
    request_id: str
    scored_at: datetime


class ShadowScorer:
    """Scores the champion's requests with a challenger, off the request path.

    Parameters
    ----------
    challenger : ServedModel
        The model being compared; its answers are never sent.
    champion : ServedModel
        The model answering the requests.
    config : ShadowLogConfig
        The shadow log's directory, size cap, share of requests scored,
        flush triggers and agreement tolerance.
    seed : int
        Seeds the choice of the requests scored when ``sample_rate`` < 1.
    queue_requests : int, default=QUEUE_REQUESTS
        Requests that may wait for the challenger before new ones are dropped.

    Attributes
    ----------
    challenger : ServedModel
        The model being compared.
    metrics : ShadowMetrics
        Rows scored, agreeing, failed and dropped, for the service's registry.
    """

    def __init__(
        self,
        challenger: ServedModel,
        champion: ServedModel,
        config: ShadowLogConfig,
        seed: int,
        queue_requests: int = QUEUE_REQUESTS,
    ) -> None:
        self.challenger = challenger
        self._champion = champion
        self._tolerance = config.agreement_tolerance
        self._columns = [column.name for column in challenger.columns]
        self._log = ParquetLog(
            config,
            self._score,
            shadow_log.shadow_file_name,
            shadow_log.shadow_files,
            seed,
            title="Shadow log",
            queue_requests=queue_requests,
        )
        self.metrics = ShadowMetrics(
            challenger.model_version or challenger.uri, lambda: self._log.dropped_rows
        )
        self._last_warning = -WARNING_INTERVAL_SECONDS

    def start(self) -> None:
        """Start the background thread; call once, before the first request."""
        self._log.start()

    def stop(self) -> None:
        """Score and write the queued requests, then end the background thread."""
        self._log.stop()

    def submit(
        self,
        features: pd.DataFrame,
        champion_predictions: np.ndarray[Any, Any],
        request_id: str,
        scored_at: datetime,
    ) -> None:
        """Queue an answered request for the challenger; never waits, never raises.

        Unless sampling skips it, the request is queued; a full queue drops
        it and counts its rows.
        """
        self._log.record(
            ShadowRequest(features, champion_predictions, request_id, scored_at)
        )

    def describe(self) -> dict[str, str | None]:
        """Return the challenger's URI and registry version, for ``/version``."""
        return {
            "model_uri": self.challenger.uri,
            "model_version": self.challenger.model_version,
        }

    def _score(self, requests: Sequence[ShadowRequest]) -> pd.DataFrame:
        """Score ``requests`` with the challenger; return the shadow log's rows.

        A challenger that fails scores none of them: the rows are counted as
        failures and an empty table is returned.
        """
        features = pd.concat([request.features for request in requests])
        champion = np.concatenate(
            [request.champion_predictions for request in requests]
        )
        try:
            challenger = self.challenger.predict(features[self._columns])
            agree = shadow_log.predictions_agree(
                champion,
                challenger,
                numeric=not self._champion.is_classifier,
                tolerance=self._tolerance,
            )
        except Exception as error:  # any failure of the challenger's, bugs included
            self.metrics.count_failures(len(features))
            self._warn(len(features), error)
            return pd.DataFrame()
        self.metrics.observe(len(agree), int(agree.sum()))
        return self._rows(requests, champion, challenger, agree)

    def _rows(
        self,
        requests: Sequence[ShadowRequest],
        champion: np.ndarray[Any, Any],
        challenger: np.ndarray[Any, Any],
        agree: np.ndarray[Any, Any],
    ) -> pd.DataFrame:
        """Return the rows of the shadow log, one per row scored by both models."""
        sizes = [len(request.features) for request in requests]
        rows = len(agree)
        is_classifier = self._champion.is_classifier
        columns = {
            shadow_log.REQUEST_ID: pd.array(
                np.repeat([request.request_id for request in requests], sizes),
                dtype="string",
            ),
            shadow_log.ROW: np.concatenate([np.arange(size) for size in sizes]),
            shadow_log.CHAMPION_PREDICTION: logged_predictions(champion, is_classifier),
            shadow_log.CHALLENGER_PREDICTION: logged_predictions(
                challenger, is_classifier
            ),
            shadow_log.AGREE: agree,
            shadow_log.CHAMPION_VERSION: repeated_text(
                self._champion.model_version, rows
            ),
            shadow_log.CHALLENGER_VERSION: repeated_text(
                self.challenger.model_version, rows
            ),
            shadow_log.CHALLENGER_URI: repeated_text(self.challenger.uri, rows),
            shadow_log.SCORED_AT: pd.DatetimeIndex(
                np.repeat([request.scored_at for request in requests], sizes)
            ),
        }
        return pd.DataFrame(columns)

    def _warn(self, rows: int, error: Exception) -> None:
        """Log a failure of the challenger: a warning at most once a minute.

        The traceback goes to DEBUG, each time.
        """
        logger.debug("The challenger failed to score %d rows", rows, exc_info=error)
        now = time.monotonic()
        if now - self._last_warning < WARNING_INTERVAL_SECONDS:
            return
        self._last_warning = now
        logger.warning(
            "The challenger %s failed to score %d rows: %s (failures are reported"
            " once a minute; the traceback is logged at DEBUG)",
            self.challenger.uri,
            rows,
            error,
        )


def challenger_uri(registered_model: str, alias_or_uri: str) -> str:
    """Return the model URI that ``serve --challenger`` names.

    A bare alias means that alias of ``registered_model``; anything else is
    a model URI already.

    Examples
    --------
    >>> challenger_uri("penguins", "challenger")
    'models:/penguins@challenger'
    >>> challenger_uri("penguins", "models:/penguins/4")
    'models:/penguins/4'
    """
    if ALIAS.fullmatch(alias_or_uri):
        return f"models:/{registered_model}@{alias_or_uri}"
    return alias_or_uri


def open_shadow_scorer(
    settings: Settings, champion: ServedModel, challenger: ServedModel
) -> ShadowScorer:
    """Return the scorer comparing ``challenger`` with ``champion`` as configured.

    Raises
    ------
    ConfigError
        If the shadow log is disabled: the challenger's answers would go nowhere.
    """
    config = settings.monitoring.shadow_log
    if not config.enabled:
        raise ConfigError(
            "a challenger needs the shadow log: set monitoring.shadow_log.enabled"
            " to true"
        )
    return ShadowScorer(challenger, champion, config, settings.seed)
