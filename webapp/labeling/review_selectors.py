"""Reads of the review workflow, scoped to the user."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from webapp.accounts.selectors import admin_project_ids

from .models import Task


def review_queue_for(*, user: Any) -> QuerySet[Task]:
    """Submitted tasks of the projects where the user reviews (or administers), never their own."""
    from webapp.accounts.models import Membership, Role

    if not user.is_authenticated:
        return Task.objects.none()
    projects = Membership.objects.filter(user=user, role=Role.REVIEWER).values("project_id")
    qs = Task.objects.filter(state=Task.State.SUBMITTED).exclude(assignee=user)
    qs = qs.filter(project_id__in=projects) | qs.filter(project_id__in=admin_project_ids(user=user))
    return qs.select_related("project", "assignee", "series", "series__study__patient").order_by("submitted_at", "id")
