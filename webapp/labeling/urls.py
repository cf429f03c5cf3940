from django.urls import path

from . import pages

urlpatterns = [
    path("tasks/", pages.task_list, name="tasks-page"),
    path("tasks/next/", pages.next_task, name="tasks-next-page"),
    path("tasks/<int:pk>/", pages.viewer, name="tasks-viewer-page"),
]
