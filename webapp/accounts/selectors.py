"""Who may see and do what: every user-reachable queryset starts from these."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from webapp.labeling.models import Project

from .models import Membership, Role


def projects_for(*, user: Any) -> QuerySet[Project]:
    if not user.is_authenticated:
        return Project.objects.none()
    if user.is_superuser:
        return Project.objects.all()
    return Project.objects.filter(memberships__user=user).distinct()


def member_project_ids(*, user: Any) -> QuerySet[Any]:
    """Subquery of project ids the user belongs to (kept lazy to stay one SQL statement)."""
    if user.is_superuser:
        return Project.objects.values("id")
    return Membership.objects.filter(user=user).values("project_id")


def admin_project_ids(*, user: Any) -> QuerySet[Any]:
    if user.is_superuser:
        return Project.objects.values("id")
    return Membership.objects.filter(user=user, role=Role.ADMIN).values("project_id")


def roles_in(*, user: Any, project_id: int) -> set[str]:
    if not user.is_authenticated:
        return set()
    roles = set(
        Membership.objects.filter(user=user, project_id=project_id).values_list("role", flat=True)
    )
    if user.is_superuser:
        roles |= {Role.ADMIN, Role.REVIEWER, Role.ANNOTATOR}
    return roles


def is_member(*, user: Any, project_id: int) -> bool:
    return bool(roles_in(user=user, project_id=project_id))


def is_any_project_admin(*, user: Any) -> bool:
    return user.is_superuser or Membership.objects.filter(user=user, role=Role.ADMIN).exists()


def is_any_project_reviewer(*, user: Any) -> bool:
    return user.is_superuser or Membership.objects.filter(
        user=user, role__in=[Role.REVIEWER, Role.ADMIN]
    ).exists()
