"""`/dashboard/`: models, jobs, training runs and triage statistics (project and site admins)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from . import selectors


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    projects = list(selectors.admin_projects_for(user=request.user))
    if not projects:
        raise PermissionDenied
    slug = request.GET.get("project") or projects[0].slug
    project = next((p for p in projects if p.slug == slug), projects[0])
    versions = selectors.model_versions_for(user=request.user).filter(project=project).order_by("-created", "-id")
    return render(request, "ml/dashboard.html", {
        "projects": projects,
        "project": project,
        "versions": versions[:50],
        "jobs": selectors.jobs_for(user=request.user).filter(project=project).order_by("-created", "-id")[:30],
        "runs": selectors.training_runs_for(user=request.user).filter(project=project).order_by("-created", "-id")[:20],
        "stats": selectors.triage_stats(project=project),
        "throughput": selectors.annotator_throughput(project=project),
        "schedule": selectors.schedule_for(project=project),
        "version_metrics": selectors.version_metrics_series(project=project),
    })
