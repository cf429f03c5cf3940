"""Demo data: users, the `demo-lung` project (LIDC preset), synthetic chest CT studies from
`training.phantoms` ingested through the real ingest service, one task per series."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from training.phantoms import chest_ct, write_dicom_series
from webapp.accounts.models import Membership, Role
from webapp.imaging.models import Series
from webapp.imaging.services import IncomingFile, ingest_files
from webapp.labeling.models import Project, Task
from webapp.labeling.schema import LUNG_NODULE_SCHEMA

PASSWORD = "nodus-demo"  # noqa: S105 - demo mode only (settings.DEMO), bound to 127.0.0.1
SLUG = "demo-lung"
STUDIES = 6
USERS = [("admin", Role.ADMIN, True), ("annotator", Role.ANNOTATOR, False), ("reviewer", Role.REVIEWER, False)]


@dataclass
class DemoResult:
    created: bool
    studies: int
    tasks: int


def demo_loaded() -> bool:
    project = Project.objects.filter(slug=SLUG).first()
    return bool(project and project.studies.count() >= STUDIES and
                get_user_model().objects.filter(username="annotator").exists())


def load_demo(*, size: int = 512, slices: int = 120, studies: int = STUDIES,
              log: Callable[[str], None] = print) -> DemoResult:
    if demo_loaded():
        project = Project.objects.get(slug=SLUG)
        return DemoResult(created=False, studies=project.studies.count(), tasks=project.tasks.count())
    users = _users()
    with transaction.atomic():
        project, _ = Project.objects.get_or_create(
            slug=SLUG, defaults={"name": "Demo: lung nodules (LIDC attributes)", "label_schema": LUNG_NODULE_SCHEMA,
                                 "description": "Synthetic chest CT phantoms with nodules."})
        for username, role, _ in USERS:
            Membership.objects.get_or_create(user=users[username], project=project, role=role)
    for k in range(studies):
        seed = 1000 + k
        log(f"demo study {k + 1}/{studies}: phantom {size}x{size}x{slices} (seed {seed})")
        phantom = chest_ct(seed, size=size, slices=slices)
        with tempfile.TemporaryDirectory(prefix="nodus-demo-") as tmp:
            paths = write_dicom_series(
                phantom, Path(tmp), patient_id=f"DEMO-{k + 1:03d}", patient_name=f"Demo^Patient {k + 1}",
                accession=f"DEMOACC{k + 1:04d}", study_date=f"2026{(k % 12) + 1:02d}{(k % 27) + 1:02d}",
                series_description=f"Chest CT phantom {k + 1}")
            report = ingest_files(project=project, files=(IncomingFile(p.name, p.read_bytes()) for p in paths),
                                  actor=users["admin"], source="demo")
        if report.refused:
            raise RuntimeError(f"demo study refused: {report.refused[0].rule}: {report.refused[0].reason}")
    annotator = users["annotator"]
    for series in Series.objects.filter(study__project=project):
        Task.objects.get_or_create(project=project, series=series, defaults={"assignee": annotator})
    return DemoResult(created=True, studies=project.studies.count(), tasks=project.tasks.count())


def _users() -> dict[str, Any]:
    user_model = get_user_model()
    out = {}
    for username, _, superuser in USERS:
        user, created = user_model.objects.get_or_create(username=username, defaults={
            "is_superuser": superuser, "is_staff": superuser, "email": f"{username}@demo.nodus.invalid"})
        if created:
            user.set_password(PASSWORD)
            user.save()
        out[username] = user
    return out


def require_demo_mode() -> None:
    if not settings.DEMO:
        from django.core.management.base import CommandError

        raise CommandError("load_demo creates users with a published password; it only runs with NODUS_DEMO=1")
