from django.apps import AppConfig


class ImagingConfig(AppConfig):
    name = "webapp.imaging"
    label = "imaging"
