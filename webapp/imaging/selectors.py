"""Reads of the catalog, always scoped to the projects the user belongs to."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, QuerySet

from webapp.accounts.selectors import member_project_ids

from .models import Instance, Patient, QuarantinedFile, Series, Study


def patients_for(*, user: Any) -> QuerySet[Patient]:
    return (
        Patient.objects.filter(project_id__in=member_project_ids(user=user))
        .select_related("project")
        .annotate(num_studies=Count("studies"))
    )


def studies_for(*, user: Any) -> QuerySet[Study]:
    return Study.objects.filter(project_id__in=member_project_ids(user=user)).select_related(
        "patient", "project"
    )


def series_for(*, user: Any) -> QuerySet[Series]:
    return Series.objects.filter(
        study__project_id__in=member_project_ids(user=user)
    ).select_related("study", "study__patient", "study__project")


def instances_for(*, user: Any) -> QuerySet[Instance]:
    return Instance.objects.filter(
        series__study__project_id__in=member_project_ids(user=user)
    ).select_related("series", "series__study")


def quarantine_for(*, user: Any) -> QuerySet[QuarantinedFile]:
    from webapp.accounts.selectors import admin_project_ids

    if user.is_superuser:
        return QuarantinedFile.objects.all()
    return QuarantinedFile.objects.filter(project_id__in=admin_project_ids(user=user))
