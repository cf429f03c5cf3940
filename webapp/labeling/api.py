from __future__ import annotations

from typing import Any

from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from webapp.core.errors import NotFound
from webapp.core.viewsets import ScopedReadOnlyViewSet

from . import selectors
from .filters import TaskFilter
from .serializers import ProjectOut, TaskOut


class ProjectViewSet(ScopedReadOnlyViewSet):
    serializer_class = ProjectOut
    lookup_field = "slug"
    ordering_fields = ["slug", "created"]
    search_fields = ["slug", "name"]

    def scoped_queryset(self) -> Any:
        return selectors.project_list_for(user=self.request.user).order_by("slug")


class TaskViewSet(ScopedReadOnlyViewSet):
    serializer_class = TaskOut
    filterset_class = TaskFilter
    ordering_fields = ["created", "updated", "state"]

    def scoped_queryset(self) -> Any:
        return selectors.tasks_for(user=self.request.user).order_by("created", "id")

    @action(detail=False, methods=["get"], url_path="next")
    def next_task(self, request: Request) -> Response:
        task = selectors.next_task_for(user=request.user)
        if task is None:
            raise NotFound("no open task is assigned to you")
        return Response(TaskOut(task).data)
