"""Server-rendered pages of the labeling app: the task queue and the viewer shell."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render

from webapp.accounts.models import Role
from webapp.accounts.selectors import roles_in
from webapp.core.errors import NotFound

from . import selectors
from .models import Task

PAGE = 200


@login_required
def task_list(request: HttpRequest) -> HttpResponse:
    qs = selectors.tasks_for(user=request.user)
    state = request.GET.get("state", "").strip()
    project = request.GET.get("project", "").strip()
    modality = request.GET.get("modality", "").strip()
    mine = request.GET.get("mine", "") == "1"
    if state:
        qs = qs.filter(state=state)
    if project:
        qs = qs.filter(project__slug=project)
    if modality:
        qs = qs.filter(series__modality__iexact=modality)
    if mine:
        qs = qs.filter(assignee_id=request.user.pk)
    return render(request, "labeling/task_list.html", {
        "tasks": qs.order_by("created", "id")[:PAGE],
        "count": qs.count(),
        "states": Task.State.choices,
        "projects": selectors.project_list_for(user=request.user).order_by("slug"),
        "f": {"state": state, "project": project, "modality": modality, "mine": mine},
        "next_task": selectors.next_task_for(user=request.user),
    })


@login_required
def next_task(request: HttpRequest) -> HttpResponse:
    task = selectors.next_task_for(user=request.user)
    if task is None:
        messages.info(request, "No open task is assigned to you.")
        return redirect("tasks-page")
    return redirect("tasks-viewer-page", pk=task.pk)


def viewer_config(*, request: HttpRequest, task: Task) -> dict[str, Any]:
    """Everything the viewer needs at start (rendered with json_script: escaped, no inline JS)."""
    series, study = task.series, task.series.study
    patient = study.patient
    roles = roles_in(user=request.user, project_id=task.project_id)
    can_edit = bool(roles & {Role.REVIEWER, Role.ADMIN}) or (
        task.assignee_id == request.user.pk and task.state in {"new", "in_progress", "returned"}
    )
    return {
        "task": task.pk,
        "state": task.state,
        "project": task.project.slug,
        "schema": task.project.label_schema,
        "headRevision": task.head_revision_id,
        "studyInstanceUID": study.study_instance_uid,
        "seriesInstanceUID": series.series_instance_uid,
        "modality": series.modality,
        "shape": list(selectors.series_grid(series=series)),
        "spacing": list(selectors.series_spacing(series=series)),
        "dicomweb": f"/projects/{task.project.slug}/dicomweb",
        "api": "/api/v1",
        "csrfToken": get_token(request),
        "user": request.user.get_username(),
        "canEdit": can_edit,
        "overlay": {
            "patientName": patient.name.replace("^", " ").strip(),
            "patientId": patient.patient_id,
            "birthDate": patient.birth_date,
            "sex": patient.sex,
            "studyDate": study.study_date.isoformat() if study.study_date else "",
            "studyDescription": study.description,
            "seriesDescription": series.description,
            "accession": study.accession_number,
        },
    }


@login_required
def viewer(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        task = selectors.task_for(user=request.user, pk=pk)
    except NotFound as exc:
        raise Http404("task not found") from exc
    return render(request, "labeling/viewer.html", {"task": task, "config": viewer_config(request=request, task=task)})
