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
