from django.apps import AppConfig


class MlConfig(AppConfig):
    name = "webapp.ml"
    label = "ml"

    def ready(self) -> None:
        from .signals import on_series_ingested

        try:
            from webapp.imaging.signals import series_ingested
        except ImportError:  # pragma: no cover - the ingest app provides it
            return

        series_ingested.connect(on_series_ingested, dispatch_uid="ml.preannotate_on_ingest")
