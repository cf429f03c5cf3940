"""Upload page: files, folders and zips with per-file progress and a summary (JS in the template)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from .selectors import upload_projects_for


@login_required
def upload_page(request: HttpRequest) -> HttpResponse:
    return render(request, "imaging/upload.html", {"projects": upload_projects_for(user=request.user)})
