"""Signals other apps listen to (e.g. webapp.ml starts pre-annotation); sent after commit."""

from django.dispatch import Signal

# kwargs: series_ids (list[int]), project_id (int)
series_ingested = Signal()
