"""Reads for projects, tasks, revisions, findings and reviews, scoped to the user."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from webapp.accounts.models import Membership, Role
from webapp.accounts.selectors import member_project_ids, projects_for

from .models import Finding, LabelRevision, Project, Review, Task


def project_list_for(*, user: Any) -> QuerySet[Project]:
    return projects_for(user=user)


def _task_visibility(user: Any) -> Q:
    """Annotators see tasks assigned to them; reviewers and admins see the project's tasks."""
    if user.is_superuser:
        return Q()
    oversight = Membership.objects.filter(user=user, role__in=[Role.REVIEWER, Role.ADMIN]).values(
        "project_id"
    )
    return Q(project_id__in=oversight) | Q(project_id__in=member_project_ids(user=user), assignee=user)


def tasks_for(*, user: Any) -> QuerySet[Task]:
    if not user.is_authenticated:
        return Task.objects.none()
    return Task.objects.filter(_task_visibility(user)).select_related(
        "project", "assignee", "series", "series__study", "series__study__patient"
    )


def revisions_for(*, user: Any) -> QuerySet[LabelRevision]:
    return LabelRevision.objects.filter(task__in=tasks_for(user=user).values("id")).select_related(
        "author", "model_version"
    )


def findings_for(*, user: Any) -> QuerySet[Finding]:
    return Finding.objects.filter(task__in=tasks_for(user=user).values("id")).select_related(
        "task", "task__series", "model_version"
    )


def reviews_for(*, user: Any) -> QuerySet[Review]:
    return Review.objects.filter(task__in=tasks_for(user=user).values("id")).select_related("reviewer")


def next_task_for(*, user: Any) -> Task | None:
    """The oldest open task assigned to the user."""
    return (
        tasks_for(user=user)
        .filter(assignee=user, state__in=[Task.State.NEW, Task.State.IN_PROGRESS, Task.State.RETURNED])
        .order_by("created", "id")
        .first()
    )


def task_for(*, user: Any, pk: int) -> Task:
    """One task the user may see; NotFound otherwise (existence of others' tasks is hidden)."""
    from webapp.core.errors import NotFound

    task = tasks_for(user=user).filter(pk=pk).first()
    if task is None:
        raise NotFound("task not found")
    return task


def revision_for(*, user: Any, pk: int) -> LabelRevision:
    from webapp.core.errors import NotFound

    rev = revisions_for(user=user).select_related("task", "task__series", "task__project").filter(pk=pk).first()
    if rev is None:
        raise NotFound("revision not found")
    return rev


def series_grid(*, series: Any) -> tuple[int, int, int]:
    """(slices, rows, columns) of a series: the only shape a label volume of it may have."""
    from django.db.models import Sum

    frames = series.instances.aggregate(n=Sum("number_of_frames"))["n"] or series.num_instances or 0
    return int(frames), int(series.rows or 0), int(series.columns or 0)


def series_spacing(*, series: Any) -> tuple[float, float, float]:
    """(slice, row, column) spacing in mm; series.spacing is stored as [row, col, slice]. Unknown
    values (a single 2D image has no slice spacing; some have no PixelSpacing) count as 1 mm."""
    sp = series.spacing or [1.0, 1.0, 1.0]
    row, col, sl = (float(v) if v is not None else 1.0 for v in (list(sp) + [1.0, 1.0, 1.0])[:3])
    return sl or 1.0, row or 1.0, col or 1.0


def head_findings(*, task: Task) -> QuerySet[Finding]:
    if task.head_revision_id is None:
        return Finding.objects.none()
    return Finding.objects.filter(revision_id=task.head_revision_id).order_by("segment")


def load_volume(*, revision: LabelRevision) -> Any:
    """The revision's label volume as a uint8 numpy array of its shape."""
    from webapp.core.storage import get_storage

    from .codec import decode

    return decode(get_storage().read(revision.storage_key), tuple(revision.shape))
