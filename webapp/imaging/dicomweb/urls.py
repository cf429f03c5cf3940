"""DICOMweb routes; included twice: at `dicomweb/` and at `projects/<slug:project>/dicomweb/`."""

from django.urls import path

from . import views

S = "studies/<str:study>"
SE = S + "/series/<str:series>"
I = SE + "/instances/<str:instance>"  # noqa: E741

urlpatterns = [
    path("studies", views.studies),
    path("series", views.all_series),
    path("instances", views.all_instances),
    path(S, views.study),
    path(S + "/metadata", views.study_metadata),
    path(S + "/series", views.all_series),
    path(S + "/instances", views.all_instances),
    path(SE, views.series),
    path(SE + "/metadata", views.series_metadata),
    path(SE + "/instances", views.all_instances),
    path(SE + "/pixeldata", views.pixeldata),
    path(I, views.instance),
    path(I + "/metadata", views.instance_metadata),
    path(I + "/frames/<str:frames>", views.frames),
    path(I + "/rendered", views.rendered),
]
