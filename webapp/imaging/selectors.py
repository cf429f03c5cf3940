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


# --- DICOMweb -------------------------------------------------------------------------------------


def dicomweb_project_ids(*, user: Any, project_slug: str | None) -> list[int]:
    """Projects a DICOMweb root reads: one project (members only, else 404) or all of the user's."""
    from webapp.accounts.models import Role
    from webapp.accounts.permissions import require_role
    from webapp.core.errors import NotFound
    from webapp.labeling.models import Project

    if project_slug is None:
        return list(member_project_ids(user=user).values_list(
            "id" if user.is_superuser else "project_id", flat=True))
    project = Project.objects.filter(slug=project_slug).only("id").first()
    if project is None:
        raise NotFound("not found")
    require_role(user=user, project_id=project.pk, roles={Role.ANNOTATOR, Role.REVIEWER, Role.ADMIN},
                 what="reading this project")
    return [project.pk]


def _wildcard(value: str) -> str:
    import re

    return "^" + "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in value) + "$"


def _match_text(qs: QuerySet[Any], field: str, value: str, *, ci: bool = False) -> QuerySet[Any]:
    if "*" in value or "?" in value:
        return qs.filter(**{f"{field}__iregex" if ci else f"{field}__regex": _wildcard(value)})
    return qs.filter(**{f"{field}__iexact" if ci else field: value})


def _match_date(qs: QuerySet[Any], field: str, value: str) -> QuerySet[Any]:
    from datetime import date

    from webapp.core.errors import ValidationFailed

    def day(text: str) -> date:
        text = text.strip().replace("-", "") if len(text.strip()) == 10 else text.strip()
        try:
            return date(int(text[:4]), int(text[4:6]), int(text[6:8]))
        except (ValueError, IndexError):
            raise ValidationFailed(f"invalid date {text!r}; use YYYYMMDD or a range A-B") from None

    if "-" in value and not (len(value) == 10 and value[4] == "-" and value[7] == "-"):
        start, _, end = value.partition("-")
        if start:
            qs = qs.filter(**{f"{field}__gte": day(start)})
        if end:
            qs = qs.filter(**{f"{field}__lte": day(end)})
        return qs
    return qs.filter(**{field: day(value)})


def _uid_list(value: str) -> list[str]:
    return [v.strip() for v in value.replace("\\", ",").split(",") if v.strip()]


def qido_studies(*, project_ids: list[int], match: dict[str, str]) -> QuerySet[Study]:
    qs = Study.objects.filter(project_id__in=project_ids).select_related("patient").order_by("-study_date", "-id")
    for key, value in match.items():
        if key == "StudyInstanceUID":
            qs = qs.filter(study_instance_uid__in=_uid_list(value))
        elif key == "PatientID":
            qs = _match_text(qs, "patient__patient_id", value)
        elif key == "PatientName":
            qs = _match_text(qs, "patient__name", value, ci=True)
        elif key == "AccessionNumber":
            qs = _match_text(qs, "accession_number", value)
        elif key == "StudyDate":
            qs = _match_date(qs, "study_date", value)
        elif key == "StudyDescription":
            qs = _match_text(qs, "description", value, ci=True)
        elif key == "StudyID":
            qs = _match_text(qs, "study_id", value)
        elif key == "ReferringPhysicianName":
            qs = _match_text(qs, "referring_physician", value, ci=True)
        elif key == "ModalitiesInStudy":
            # The denormalised, backslash-joined Study.modalities: no join to series, no DISTINCT.
            import re

            wanted = "|".join(re.escape(m) for m in _uid_list(value)) or "(?!)"
            qs = qs.filter(modalities__regex=rf"(^|\\)({wanted})(\\|$)")
    return qs


def qido_series(*, project_ids: list[int], study_uid: str | None, match: dict[str, str]) -> QuerySet[Series]:
    qs = Series.objects.filter(study__project_id__in=project_ids).select_related("study", "study__patient")
    if study_uid:
        qs = qs.filter(study__study_instance_uid=study_uid)
    for key, value in match.items():
        if key == "SeriesInstanceUID":
            qs = qs.filter(series_instance_uid__in=_uid_list(value))
        elif key == "Modality":
            qs = qs.filter(modality__in=_uid_list(value))
        elif key == "SeriesNumber":
            qs = qs.filter(series_number=int(value)) if value.lstrip("-").isdigit() else qs.none()
        elif key == "SeriesDescription":
            qs = _match_text(qs, "description", value, ci=True)
        elif key == "StudyInstanceUID":
            qs = qs.filter(study__study_instance_uid__in=_uid_list(value))
        elif key == "PatientID":
            qs = _match_text(qs, "study__patient__patient_id", value)
    return qs.order_by("study_id", "series_number", "id")


def qido_instances(*, project_ids: list[int], study_uid: str | None, series_uid: str | None,
                   match: dict[str, str]) -> QuerySet[Instance]:
    qs = Instance.objects.filter(series__study__project_id__in=project_ids).select_related(
        "series", "series__study").defer("metadata")
    if study_uid:
        qs = qs.filter(series__study__study_instance_uid=study_uid)
    if series_uid:
        qs = qs.filter(series__series_instance_uid=series_uid)
    for key, value in match.items():
        if key == "SOPInstanceUID":
            qs = qs.filter(sop_instance_uid__in=_uid_list(value))
        elif key == "SOPClassUID":
            qs = qs.filter(sop_class_uid__in=_uid_list(value))
        elif key == "InstanceNumber":
            qs = qs.filter(instance_number=int(value)) if value.lstrip("-").isdigit() else qs.none()
        elif key == "SeriesInstanceUID":
            qs = qs.filter(series__series_instance_uid__in=_uid_list(value))
        elif key == "Modality":
            qs = qs.filter(series__modality__in=_uid_list(value))
    return qs.order_by("series_id", "slice_position", "instance_number", "id")


def wado_instances(*, project_ids: list[int], study_uid: str, series_uid: str | None = None,
                   sop_uid: str | None = None, with_metadata: bool = False) -> list[Instance]:
    """Instances of a study/series/instance in slice order; 404 when none is visible."""
    from webapp.core.errors import NotFound

    qs = Instance.objects.filter(series__study__project_id__in=project_ids,
                                 series__study__study_instance_uid=study_uid)
    if series_uid:
        qs = qs.filter(series__series_instance_uid=series_uid)
    if sop_uid:
        qs = qs.filter(sop_instance_uid=sop_uid)
    qs = qs.select_related("series", "series__study")
    if not with_metadata:
        qs = qs.defer("metadata")
    rows = list(qs.order_by("series__series_number", "series_id", "slice_position", "instance_number", "id"))
    if not rows:
        raise NotFound("no such study, series or instance")
    return rows


def pseudonyms_for(*, user: Any) -> QuerySet[Any]:
    from webapp.accounts.selectors import admin_project_ids

    from .models import Pseudonym

    return Pseudonym.objects.filter(project_id__in=admin_project_ids(user=user)).select_related("project")


def ingest_project_for(*, user: Any, project_slug: str | None) -> Any:
    """The project a write (STOW, upload) goes to: a project root needs annotator/admin there; the
    global root is for site admins and writes into NODUS_DEFAULT_PROJECT."""
    from django.conf import settings

    from webapp.accounts.models import Role
    from webapp.accounts.permissions import require_role, require_site_admin
    from webapp.core.errors import NotFound
    from webapp.labeling.models import Project

    if project_slug is None:
        require_site_admin(user=user, what="storing into the global DICOMweb root")
        project_slug = settings.NODUS_DEFAULT_PROJECT
    project = Project.objects.filter(slug=project_slug).first()
    if project is None:
        raise NotFound(f"project {project_slug!r} does not exist")
    require_role(user=user, project_id=project.pk, roles={Role.ANNOTATOR, Role.ADMIN}, what="storing instances")
    return project


def upload_projects_for(*, user: Any) -> QuerySet[Any]:
    """Projects the user may store instances into (annotator or admin there)."""
    from webapp.accounts.models import Membership, Role
    from webapp.labeling.models import Project

    if user.is_superuser:
        return Project.objects.all()
    ids = Membership.objects.filter(user=user, role__in=[Role.ANNOTATOR, Role.ADMIN]).values("project_id")
    return Project.objects.filter(id__in=ids)
