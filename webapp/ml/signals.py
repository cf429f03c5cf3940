"""Hooks of the ML app into other apps' events (connected in apps.py)."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def on_series_ingested(sender: Any, *, series_ids: list[int], project_id: int | None = None, **kwargs: Any) -> None:
    """Auto pre-annotation of freshly ingested series (the signal is sent after the ingest commit;
    one job per series and active model, so repeated batches of one series queue it once)."""
    from webapp.imaging.models import Series

    from .services import request_preannotation

    for series in Series.objects.filter(pk__in=series_ids).select_related("study"):
        try:
            request_preannotation(series=series, requested_by=None)
        except Exception:  # noqa: BLE001 - ingest must never fail because of pre-annotation
            log.exception("could not queue pre-annotation of series %s", series.pk)
