"""Server-rendered pages: thin, reading through selectors."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from webapp.imaging.selectors import patients_for, series_for, studies_for
from webapp.labeling.selectors import next_task_for, tasks_for


@login_required
def home(request: HttpRequest) -> HttpResponse:
    my_tasks = tasks_for(user=request.user).filter(assignee_id=request.user.pk).exclude(state="accepted")
    return render(
        request,
        "home.html",
        {
            "tasks": my_tasks.order_by("created", "id")[:20],
            "open_count": my_tasks.count(),
            "next_task": next_task_for(user=request.user),
        },
    )


@login_required
def patients_page(request: HttpRequest) -> HttpResponse:
    qs = patients_for(user=request.user)
    q = request.GET.get("q", "").strip()
    if q:
        qs = qs.filter(Q(patient_id__icontains=q) | Q(name__icontains=q))
    return render(request, "patients.html", {"patients": qs.order_by("patient_id", "id")[:200],
                                             "count": qs.count(), "q": q})


@login_required
def study_page(request: HttpRequest, pk: int) -> HttpResponse:
    study = get_object_or_404(studies_for(user=request.user), pk=pk)
    series = series_for(user=request.user).filter(study=study).order_by("series_number", "id")
    tasks = tasks_for(user=request.user).filter(series__study=study).order_by("id")
    return render(request, "study.html", {"study": study, "series": series, "tasks": tasks})


@login_required
def studies_page(request: HttpRequest) -> HttpResponse:
    qs = studies_for(user=request.user)
    q = request.GET.get("q", "").strip()
    if q:
        qs = qs.filter(
            Q(patient__patient_id__icontains=q) | Q(patient__name__icontains=q)
            | Q(accession_number__icontains=q) | Q(description__icontains=q)
        )
    modality = request.GET.get("modality", "").strip()
    if modality:
        qs = qs.filter(modalities__icontains=modality)
    return render(request, "studies.html", {"studies": qs.order_by("-study_date", "-id")[:200],
                                            "count": qs.count(), "q": q, "modality": modality})
