"""Reads of the ML app, scoped to the user's projects (admins-only data to admin projects)."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet

from webapp.accounts.selectors import admin_project_ids, member_project_ids
from webapp.audit.models import AuditEvent
from webapp.labeling.models import Finding, Project, Review, Task

from .models import InferenceJob, ModelVersion, TrainingRun, TrainingSchedule


def model_versions_for(*, user: Any) -> QuerySet[ModelVersion]:
    """Versions of the user's projects, plus site-wide ones (project = None)."""
    if not user.is_authenticated:
        return ModelVersion.objects.none()
    return ModelVersion.objects.filter(
        Q(project_id__in=member_project_ids(user=user)) | Q(project__isnull=True)
    ).select_related("project", "parent")


def jobs_for(*, user: Any) -> QuerySet[InferenceJob]:
    if not user.is_authenticated:
        return InferenceJob.objects.none()
    return InferenceJob.objects.filter(project_id__in=member_project_ids(user=user)).select_related(
        "project", "series", "model_version"
    )


def training_runs_for(*, user: Any) -> QuerySet[TrainingRun]:
    if not user.is_authenticated:
        return TrainingRun.objects.none()
    return TrainingRun.objects.filter(project_id__in=admin_project_ids(user=user)).select_related(
        "project", "base_version", "result_version"
    )


def audit_for(*, user: Any) -> QuerySet[AuditEvent]:
    if user.is_superuser:
        return AuditEvent.objects.all()
    return AuditEvent.objects.filter(project_id__in=admin_project_ids(user=user))


def admin_projects_for(*, user: Any) -> QuerySet[Project]:
    if not user.is_authenticated:
        return Project.objects.none()
    return Project.objects.filter(id__in=admin_project_ids(user=user)).order_by("slug")


def schedule_for(*, project: Project) -> TrainingSchedule:
    return TrainingSchedule.objects.filter(project=project).first() or TrainingSchedule(project=project)


def _rates(counts: dict[str, int], scans: int) -> dict[str, Any]:
    """Suggestion counts by review status -> accepted/rejected/pending and the two rates."""
    accepted = counts.get(Finding.Status.ACCEPTED, 0) + counts.get(Finding.Status.EDITED, 0)
    rejected = counts.get(Finding.Status.REJECTED, 0)
    decided = accepted + rejected
    return {
        "suggestions": sum(counts.values()),
        "accepted": accepted,
        "rejected": rejected,
        "pending": counts.get(Finding.Status.SUGGESTED, 0),
        "acceptance_rate": round(accepted / decided, 3) if decided else None,
        "fp_per_scan": round(rejected / scans, 3) if scans else None,
    }


def triage_stats(*, project: Project) -> dict[str, Any]:
    """AI acceptance rate and false positives per scan, from the suggestions of finished jobs
    (one row per suggestion: the findings of the jobs' result revisions), overall and per
    detector (`by_detector`: the segmentation network, the second stage, "" for bundles that
    do not say), so an admin sees what the second stage's suggestions are worth to reviewers."""
    jobs = InferenceJob.objects.filter(project=project, state=InferenceJob.State.SUCCEEDED)
    rows = (
        Finding.objects.filter(revision_id__in=jobs.values("result_revision_id"), source=Finding.Source.AI)
        .values_list("detector", "status").annotate(n=Count("id")).values_list("detector", "status", "n")
    )
    scans = jobs.count()
    overall: dict[str, int] = {}
    per: dict[str, dict[str, int]] = {}
    for detector, status_, n in rows:
        overall[status_] = overall.get(status_, 0) + n
        per.setdefault(detector, {})[status_] = n
    return {**_rates(overall, scans), "scans": scans,
            "by_detector": {d: {**_rates(c, scans), "label": _detector_label(d)}
                            for d, c in sorted(per.items())}}


def _detector_label(detector: str) -> str:
    if detector in Finding.Detector.values:
        return str(Finding.Detector(detector).label)
    return "not recorded"


def annotator_throughput(*, project: Project) -> list[dict[str, Any]]:
    """Per annotator: tasks submitted, accepted, returned (from review decisions)."""
    rows = (
        Task.objects.filter(project=project, assignee__isnull=False)
        .values("assignee__username")
        .annotate(
            total=Count("id"),
            submitted=Count("id", filter=Q(state=Task.State.SUBMITTED)),
            accepted=Count("id", filter=Q(state=Task.State.ACCEPTED)),
        )
        .order_by("assignee__username")
    )
    returned = dict(
        Review.objects.filter(task__project=project, decision=Review.Decision.RETURN_TASK)
        .values_list("task__assignee__username").annotate(n=Count("id")).values_list("task__assignee__username", "n")
    )
    return [{"annotator": r["assignee__username"], "tasks": r["total"], "submitted": r["submitted"],
             "accepted": r["accepted"], "returned": returned.get(r["assignee__username"], 0)} for r in rows]


def version_metrics_series(*, project: Project) -> list[dict[str, Any]]:
    """Held-out metrics of each version, oldest first (the dashboard's metrics-across-versions plot)."""
    out = []
    for mv in ModelVersion.objects.filter(project=project).order_by("created", "id"):
        heldout = (mv.metrics or {}).get("heldout")
        if heldout is None:
            heldout = next((v for k, v in (mv.metrics or {}).items() if k.startswith("heldout:")), None)
        out.append({"id": mv.pk, "label": f"{mv.name}@{mv.version}", "state": mv.state, "parent": mv.parent_id,
                    "metrics": {k: (heldout or {}).get(k) for k in ("dice", "sensitivity", "precision", "f1", "cpm")}})
    return out
