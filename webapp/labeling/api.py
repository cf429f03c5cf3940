from __future__ import annotations

from typing import Any

from django.db.models import F
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from webapp.core.errors import NotFound
from webapp.core.storage import get_storage
from webapp.core.viewsets import ScopedReadOnlyViewSet

from . import selectors, services
from .filters import FindingFilter, RevisionFilter, TaskFilter
from .models import Task
from .serializers import FindingOut, LabelSaveIn, LabelsOut, ProjectOut, RevisionOut, TaskOut

IF_MATCH = OpenApiParameter(
    "If-Match", location=OpenApiParameter.HEADER, required=True,
    description='the parent revision id in quotes, or "none" for the first save',
)


def labels_body(task: Task) -> dict[str, Any]:
    head = task.head_revision
    return LabelsOut({
        "task": task.pk,
        "state": task.state,
        "head": head,
        "findings": selectors.head_findings(task=task).select_related("task__series"),
        "shape": list(selectors.series_grid(series=task.series)),
        "spacing": list(selectors.series_spacing(series=task.series)),
    }).data


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

    @extend_schema(responses=LabelsOut)
    @action(detail=True, methods=["get"], url_path="labels")
    def labels(self, request: Request, pk: str) -> Response:
        """The head revision, its findings and the grid; the ETag is what the next save's If-Match carries."""
        task = selectors.task_for(user=request.user, pk=int(pk))
        return Response(labels_body(task), headers={"ETag": services.revision_etag(task.head_revision_id)})

    @extend_schema(request=LabelSaveIn, parameters=[IF_MATCH], responses={201: LabelsOut})
    @labels.mapping.post
    def save_labels(self, request: Request, pk: str) -> Response:
        task = selectors.task_for(user=request.user, pk=int(pk))
        parent_id = services.parse_if_match(request.headers.get("If-Match"))
        services.require_editor(user=request.user, task=task)
        body = LabelSaveIn(data=request.data)
        body.is_valid(raise_exception=True)
        v = body.validated_data
        payload = services.decode_label_payload(
            task=task, series_instance_uid=v["series_instance_uid"], encoding=v["encoding"],
            dtype=v["dtype"], shape=v["shape"], data=v["data"], findings=v["findings"],
        )
        rev = services.save_label_revision(
            task=task, author=request.user, parent_id=parent_id, payload=payload, message=v["message"]
        )
        task = selectors.task_for(user=request.user, pk=task.pk)
        return Response(
            {**labels_body(task), "revision": RevisionOut(rev).data},
            status=status.HTTP_201_CREATED,
            headers={"ETag": services.revision_etag(rev.pk)},
        )

    @extend_schema(request=None, responses=TaskOut)
    @action(detail=True, methods=["post"], url_path="submit")
    def submit(self, request: Request, pk: str) -> Response:
        task = selectors.task_for(user=request.user, pk=int(pk))
        services.submit_task(task=task, user=request.user)
        return Response(TaskOut(selectors.task_for(user=request.user, pk=task.pk)).data)


class RevisionViewSet(ScopedReadOnlyViewSet):
    """Immutable label revisions of the tasks the user may see, newest first."""

    serializer_class = RevisionOut
    filterset_class = RevisionFilter
    ordering_fields = ["created", "id"]

    def scoped_queryset(self) -> Any:
        return selectors.revisions_for(user=self.request.user).select_related("task").order_by("-created", "-id")

    @extend_schema(responses={(200, "application/octet-stream"): bytes})
    @action(detail=True, methods=["get"], url_path="volume")
    def volume(self, request: Request, pk: str) -> HttpResponse:
        """The stored label volume (`rle8+deflate`), shape in `X-Label-Shape` (slices,rows,columns)."""
        rev = selectors.revision_for(user=request.user, pk=int(pk))
        data = get_storage().read(rev.storage_key)
        response = HttpResponse(data, content_type="application/octet-stream")
        response["X-Label-Encoding"] = rev.encoding
        response["X-Label-Shape"] = ",".join(str(n) for n in rev.shape)
        response["ETag"] = f'"{rev.sha256}"'
        response["Cache-Control"] = "private, max-age=31536000, immutable"
        return response

    @extend_schema(request=None, parameters=[IF_MATCH], responses=RevisionOut)
    @action(detail=True, methods=["post"], url_path="restore")
    def restore(self, request: Request, pk: str) -> Response:
        """Make this revision the task's head again, as a new revision; If-Match carries the current head."""
        rev = selectors.revision_for(user=request.user, pk=int(pk))
        parent_id = services.parse_if_match(request.headers.get("If-Match"))
        new = services.restore_revision(revision=rev, author=request.user, parent_id=parent_id)
        return Response(RevisionOut(new).data, status=status.HTTP_201_CREATED,
                        headers={"ETag": services.revision_etag(new.pk)})


class FindingViewSet(ScopedReadOnlyViewSet):
    """Findings of each task's head revision (pass `revision` for an older one's)."""

    serializer_class = FindingOut
    filterset_class = FindingFilter
    ordering_fields = ["created", "segment", "diameter_mm", "probability"]

    def scoped_queryset(self) -> Any:
        qs = selectors.findings_for(user=self.request.user)
        if "revision" not in self.request.query_params and self.action == "list":
            qs = qs.filter(revision_id=F("task__head_revision_id"))
        return qs.order_by("task", "segment", "id")
