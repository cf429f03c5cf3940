from django.apps import AppConfig


class MlConfig(AppConfig):
    name = "webapp.ml"
    label = "ml"
