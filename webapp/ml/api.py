"""REST resources of the AI loop: models/, jobs/, training-runs/, audit/ (thin: parse, call a
service, render)."""

from __future__ import annotations

from typing import Any

import django_filters
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from webapp.accounts.models import Role
from webapp.accounts.permissions import require_role
from webapp.accounts.selectors import is_any_project_admin
from webapp.audit.models import AuditEvent
from webapp.core.errors import Forbidden, NotFound, ValidationFailed
from webapp.core.viewsets import ScopedReadOnlyViewSet
from webapp.imaging.selectors import series_for
from webapp.labeling.models import Project
from webapp.labeling.selectors import project_list_for

from . import selectors, services
from .models import InferenceJob, ModelVersion, TrainingRun, TrainingSchedule

MEMBER_ROLES = frozenset({Role.ANNOTATOR, Role.REVIEWER, Role.ADMIN})
ADMIN = frozenset({Role.ADMIN})

class ModelVersionOut(serializers.ModelSerializer):
    project: serializers.SlugRelatedField = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = ModelVersion
        fields = ["id", "name", "version", "project", "modality", "state", "parent", "sha256", "metrics",
                  "metadata", "created"]

class JobOut(serializers.ModelSerializer):
    project: serializers.SlugRelatedField = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    series_instance_uid = serializers.CharField(source="series.series_instance_uid", read_only=True)
    model = serializers.CharField(source="model_version.__str__", read_only=True)

    class Meta:
        model = InferenceJob
        fields = ["id", "project", "series", "series_instance_uid", "task", "model_version", "model", "state",
                  "progress", "stage", "error", "attempts", "result_revision", "created", "started", "finished"]

class RunOut(serializers.ModelSerializer):
    project: serializers.SlugRelatedField = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = TrainingRun
        fields = ["id", "project", "base_version", "result_version", "state", "trigger", "config", "dataset",
                  "history", "metrics", "comparison", "error", "cancel_requested", "created", "started", "finished"]

class ScheduleOut(serializers.ModelSerializer):
    project: serializers.SlugRelatedField = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = TrainingSchedule
        fields = ["project", "enabled", "nightly", "hour", "min_new_labels", "config", "last_triggered"]

class AuditOut(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = ["id", "at", "actor_label", "action", "target_type", "target_id", "project_id", "data"]

class ProjectIn(serializers.Serializer):
    project = serializers.SlugField()

class UploadIn(ProjectIn):
    file = serializers.FileField()

class PromoteIn(serializers.Serializer):
    reason = serializers.ChoiceField(choices=["promote", "rollback"], default="promote")

class JobIn(serializers.Serializer):
    series = serializers.IntegerField(required=False)
    series_instance_uid = serializers.CharField(required=False, max_length=64)
    model_version = serializers.IntegerField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs.get("series") and not attrs.get("series_instance_uid"):
            raise serializers.ValidationError("give series (id) or series_instance_uid")
        return attrs

def training_config(value: dict[Any, Any]) -> None:
    """A bad training setting is a 400 now, not a run that fails in the worker later."""
    from training.recipe import RecipeError, recipe_for

    try:
        recipe_for({}, value)
    except RecipeError as exc:
        raise serializers.ValidationError(str(exc)) from exc

class RunIn(ProjectIn):
    config = serializers.DictField(required=False, default=dict, validators=[training_config])

class ScheduleIn(ProjectIn):
    enabled = serializers.BooleanField()
    nightly = serializers.BooleanField(default=True)
    hour = serializers.IntegerField(min_value=0, max_value=23, default=2)
    min_new_labels = serializers.IntegerField(min_value=0, default=0)
    config = serializers.DictField(required=False, validators=[training_config])

def parse(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    s = serializer_class(data=data)
    s.is_valid(raise_exception=True)
    return dict(s.validated_data)

def project_for(*, user: Any, slug: str, roles: frozenset[str], what: str) -> Project:
    project = project_list_for(user=user).filter(slug=slug).first()
    if project is None:
        raise NotFound(f"no project {slug!r}")
    require_role(user=user, project_id=project.pk, roles=roles, what=what)
    return project

def require_some_admin(user: Any, what: str) -> None:
    if not is_any_project_admin(user=user):
        raise Forbidden(f"{what} requires a project administrator")

class ModelVersionFilter(django_filters.FilterSet):
    project = django_filters.CharFilter(field_name="project__slug")
    state = django_filters.ChoiceFilter(choices=ModelVersion.State.choices)

    class Meta:
        model = ModelVersion
        fields = ["project", "state"]

class ModelVersionViewSet(ScopedReadOnlyViewSet):
    """GET list/detail (members); POST a bundle zip (multipart `project`, `file`; admins), validated
    on the gpu queue; POST `{id}/promote/` (also roll back: `{"reason": "rollback"}`), `{id}/discard/`."""

    serializer_class = ModelVersionOut
    filterset_class = ModelVersionFilter
    parser_classes = [MultiPartParser, FormParser, JSONParser]
    ordering_fields = ["created", "state"]

    def scoped_queryset(self) -> Any:
        return selectors.model_versions_for(user=self.request.user).order_by("-created", "-id")

    def create(self, request: Request) -> Response:
        require_some_admin(request.user, "importing a model")
        data = parse(UploadIn, request.data)
        project = project_for(user=request.user, slug=data["project"], roles=ADMIN, what="importing a model")
        upload = data["file"]
        if upload.size > services.MAX_BUNDLE_UPLOAD:
            raise ValidationFailed("bundle zip is too large")
        mv = services.upload_bundle(project=project, data=upload.read(), filename=upload.name or "bundle.zip",
                                    actor=request.user)
        return Response(ModelVersionOut(mv).data, status=status.HTTP_201_CREATED)

    def _admin_version(self, request: Request, what: str) -> ModelVersion:
        mv = self.get_object()
        if mv.project_id is None:
            raise Forbidden(f"{what} needs a project's version; import it into a project first")
        require_role(user=request.user, project_id=mv.project_id, roles=ADMIN, what=what)
        return mv

    @action(detail=True, methods=["post"])
    def promote(self, request: Request, pk: str | None = None) -> Response:
        mv = self._admin_version(request, "promoting a model")
        reason = parse(PromoteIn, request.data)["reason"]
        mv = services.activate_version(version=mv, actor=request.user, reason=reason)
        return Response(ModelVersionOut(mv).data)

    @action(detail=True, methods=["post"])
    def discard(self, request: Request, pk: str | None = None) -> Response:
        mv = self._admin_version(request, "discarding a model")
        return Response(ModelVersionOut(services.discard_version(version=mv, actor=request.user)).data)

class JobFilter(django_filters.FilterSet):
    project = django_filters.CharFilter(field_name="project__slug")
    series_instance_uid = django_filters.CharFilter(field_name="series__series_instance_uid")
    state = django_filters.ChoiceFilter(choices=InferenceJob.State.choices)

    class Meta:
        model = InferenceJob
        fields = ["project", "series_instance_uid", "state", "task"]

class InferenceJobViewSet(ScopedReadOnlyViewSet):
    """GET list/detail (members); POST `{series | series_instance_uid, model_version?}` = "Run AI"
    (members of the series' project); POST `{id}/retry/` for failed or cancelled jobs."""

    serializer_class = JobOut
    filterset_class = JobFilter
    ordering_fields = ["created", "state"]

    def scoped_queryset(self) -> Any:
        return selectors.jobs_for(user=self.request.user).order_by("-created", "-id")

    def create(self, request: Request) -> Response:
        data = parse(JobIn, request.data)
        qs = series_for(user=request.user)
        series = (qs.filter(pk=data["series"]) if data.get("series")
                  else qs.filter(series_instance_uid=data["series_instance_uid"])).first()
        if series is None:
            raise NotFound("no such series")
        project_id = series.study.project_id
        require_role(user=request.user, project_id=project_id, roles=MEMBER_ROLES, what="running AI")
        mv = None
        if data.get("model_version"):
            mv = selectors.model_versions_for(user=request.user).filter(pk=data["model_version"]).first()
            if mv is None:
                raise NotFound("no such model version")
        job = services.request_preannotation(series=series, requested_by=request.user, model_version=mv)
        if job is None:
            raise ValidationFailed("the project has no active model; import or promote one first")
        return Response(JobOut(job).data, status=status.HTTP_202_ACCEPTED)

    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk: str | None = None) -> Response:
        job = self.get_object()
        require_role(user=request.user, project_id=job.project_id, roles=MEMBER_ROLES, what="retrying a job")
        return Response(JobOut(services.retry_job(job=job, actor=request.user)).data,
                        status=status.HTTP_202_ACCEPTED)

class RunFilter(django_filters.FilterSet):
    project = django_filters.CharFilter(field_name="project__slug")
    state = django_filters.ChoiceFilter(choices=TrainingRun.State.choices)

    class Meta:
        model = TrainingRun
        fields = ["project", "state"]

class TrainingRunViewSet(ScopedReadOnlyViewSet):
    """Admins of a project: GET runs; POST `{project, config?}` starts one (409 while another is
    open); POST `{id}/cancel/`; GET/PUT `schedule/?project=` for periodic retraining."""

    serializer_class = RunOut
    filterset_class = RunFilter
    ordering_fields = ["created", "state"]
    extra_query_params = ("project",)

    def scoped_queryset(self) -> Any:
        return selectors.training_runs_for(user=self.request.user).order_by("-created", "-id")

    def create(self, request: Request) -> Response:
        require_some_admin(request.user, "starting a training run")
        data = parse(RunIn, request.data)
        project = project_for(user=request.user, slug=data["project"], roles=ADMIN, what="starting a training run")
        run = services.start_training(project=project, actor=request.user, config=data.get("config") or {})
        return Response(RunOut(run).data, status=status.HTTP_202_ACCEPTED)

    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        run = self.get_object()
        return Response(RunOut(services.cancel_training(run=run, actor=request.user)).data)

    @action(detail=False, methods=["get", "put"])
    def schedule(self, request: Request) -> Response:
        require_some_admin(request.user, "retraining schedules")
        if request.method == "GET":
            slug = request.query_params.get("project")
            if not slug:
                raise ValidationFailed("give ?project=<slug>")
            project = project_for(user=request.user, slug=slug, roles=ADMIN, what="retraining schedules")
            return Response(ScheduleOut(selectors.schedule_for(project=project)).data)
        data = parse(ScheduleIn, request.data)
        project = project_for(user=request.user, slug=data.pop("project"), roles=ADMIN, what="retraining schedules")
        schedule = services.update_schedule(project=project, actor=request.user, **data)
        return Response(ScheduleOut(schedule).data)

class AuditFilter(django_filters.FilterSet):
    action = django_filters.CharFilter(field_name="action", lookup_expr="startswith")
    project = django_filters.NumberFilter(field_name="project_id")
    target_type = django_filters.CharFilter()
    target_id = django_filters.CharFilter()

    class Meta:
        model = AuditEvent
        fields = ["action", "project", "target_type", "target_id"]

class AuditViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Audit events of the projects the user administers (site admins: all); a read-only list."""

    serializer_class = AuditOut
    filterset_class = AuditFilter
    ordering_fields = ["at"]

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return AuditEvent.objects.none()
        user = self.request.user
        if not is_any_project_admin(user=user):
            raise Forbidden("the audit log is for project administrators")
        return selectors.audit_for(user=user).order_by("-at", "-id")

