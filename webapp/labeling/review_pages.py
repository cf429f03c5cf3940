"""Server-rendered review pages: `/review/` (queue) and `/review/<task>/` (decisions)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from webapp.accounts.models import Role
from webapp.accounts.selectors import is_any_project_reviewer, roles_in

from . import review_selectors, selectors
from .models import Finding, Task


@login_required
def review_queue(request: HttpRequest) -> HttpResponse:
    if not is_any_project_reviewer(user=request.user):
        raise PermissionDenied
    qs = review_selectors.review_queue_for(user=request.user)
    return render(request, "review/queue.html", {"tasks": qs[:200], "count": qs.count()})


@login_required
def review_task(request: HttpRequest, pk: int) -> HttpResponse:
    task = selectors.tasks_for(user=request.user).filter(pk=pk).first()
    if task is None:
        raise Http404
    held = roles_in(user=request.user, project_id=task.project_id)
    if not held & {Role.REVIEWER, Role.ADMIN} or task.assignee_id == request.user.pk:
        raise PermissionDenied
    findings = Finding.objects.filter(
        Q(revision_id=task.head_revision_id) | Q(revision__model_version__isnull=False, task=task)
    ).select_related("model_version").order_by("source", "segment", "id")
    seen, unique = set(), []
    for f in findings:  # one row per suggestion (AI rows are copied into later revisions)
        key = (f.source, f.segment, f.model_version_id) if f.source == Finding.Source.AI else ("h", f.pk, None)
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return render(request, "review/task.html", {
        "task": task, "findings": unique, "reviews": task.reviews.select_related("reviewer", "finding"),
        "can_decide": task.state == Task.State.SUBMITTED,
    })
