"""`python manage.py import_dicom PATH... --project SLUG`: files, folders (recursive) and zips
through the ingest service, with a progress bar and a summary; exits non-zero if anything was
refused."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from webapp.imaging.archives import count_paths, iter_paths
from webapp.imaging.services import FileResult, ingest_files
from webapp.labeling.models import Project


class Command(BaseCommand):
    help = "Import DICOM files, folders and zip archives into a project."
    # No system checks: they import every URLconf and view module (≈ 0.5–1 s of startup) and an
    # import has nothing to gain from them.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+")
        parser.add_argument("--project", default=settings.NODUS_DEFAULT_PROJECT,
                            help="project slug (default: NODUS_DEFAULT_PROJECT)")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, paths: list[str], project: str, no_progress: bool, **options: Any) -> None:
        target = Project.objects.filter(slug=project).first()
        if target is None:
            raise CommandError(f"project {project!r} does not exist")
        bar = tqdm(total=count_paths(paths), unit="file", disable=no_progress or options["verbosity"] == 0,
                   file=self.stderr._out)  # type: ignore[attr-defined]

        def progress(done: list[FileResult]) -> None:
            bar.update(len(done))

        t0 = time.perf_counter()
        report = ingest_files(project=target, files=iter_paths(paths), actor=None, source="cli", progress=progress)
        bar.close()
        elapsed = time.perf_counter() - t0
        s = report.summary()
        total = sum(s.values())
        self.stdout.write(f"{total} files in {elapsed:.1f}s ({total / max(elapsed, 1e-9):.0f}/s): "
                          f"{s['stored']} stored, {s['present']} already present, {s['refused']} refused")
        for r in report.refused:
            self.stdout.write(f"  refused {r.name}: [{r.rule}] {r.reason}")
        if s["refused"]:
            raise CommandError(f"{s['refused']} file(s) refused (see quarantine)")
