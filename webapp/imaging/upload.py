"""Browser upload API (`POST /api/v1/uploads/`, multipart/form-data: project + file(s), zips
expanded safely) and the admin quarantine API (`/api/v1/quarantine/`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rest_framework import mixins, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from webapp.accounts.models import Role
from webapp.accounts.permissions import require_role
from webapp.core.viewsets import ScopedReadOnlyViewSet

from . import selectors
from .archives import iter_zip, skipped
from .serializers import QuarantinedFileOut, UploadIn
from .services import IncomingFile, delete_quarantined, ingest_files


class UploadViewSet(viewsets.ViewSet):
    def create(self, request: Request) -> Response:
        params = UploadIn(data=request.data)
        params.is_valid(raise_exception=True)
        project = selectors.ingest_project_for(user=request.user, project_slug=params.validated_data["project"])
        uploads = request.FILES.getlist("file")

        def files() -> Iterator[IncomingFile]:
            for f in uploads:
                name = request.POST.get(f"path:{f.name}") or f.name
                if name.lower().endswith(".zip"):
                    yield from iter_zip(name, f)
                elif not skipped(name):
                    yield IncomingFile(name, f.read())

        report = ingest_files(project=project, files=files(), actor=request.user, source="upload")
        body: dict[str, Any] = {"summary": report.summary(), "files": [r.as_dict() for r in report.results]}
        refused = report.refused
        if not report.results:
            body.update(error="invalid", detail="no files were uploaded")
            return Response(body, status=status.HTTP_400_BAD_REQUEST)
        if refused:
            first = refused[0]
            body.update(error="refused", detail=f"{len(refused)} of {len(report.results)} file(s) refused; first: "
                                                f"{first.name}: [{first.rule}] {first.reason}")
            codes = {r.http_status for r in refused}
            return Response(body, status=codes.pop() if len(codes) == 1 else status.HTTP_409_CONFLICT)
        return Response(body, status=status.HTTP_201_CREATED)


class QuarantineViewSet(mixins.DestroyModelMixin, ScopedReadOnlyViewSet):
    """Refused files, for project admins (their projects) and site admins (all)."""

    serializer_class = QuarantinedFileOut
    filterset_fields = ["rule", "source"]
    ordering_fields = ["created"]

    def scoped_queryset(self) -> Any:
        return selectors.quarantine_for(user=self.request.user).select_related("project", "uploaded_by")

    def perform_destroy(self, instance: Any) -> None:
        if instance.project_id is not None:
            require_role(user=self.request.user, project_id=instance.project_id, roles={Role.ADMIN},
                         what="deleting quarantined files")
        delete_quarantined(item=instance, actor=self.request.user)
