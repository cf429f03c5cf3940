"""python manage.py import_bundle PATH [--project SLUG] [--activate]"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from inference import BundleError
from webapp.core.errors import DomainError
from webapp.labeling.models import Project
from webapp.ml.engine import import_bundle


class Command(BaseCommand):
    help = "Validate a MONAI bundle (directory or zip) and register it as a model version."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path")
        parser.add_argument("--project", help="project slug (omit for a site-wide version)")
        parser.add_argument("--activate", action="store_true", help="make it the project's active model")

    def handle(self, *args: Any, **opts: Any) -> None:
        project = None
        if opts["project"]:
            project = Project.objects.filter(slug=opts["project"]).first()
            if project is None:
                raise CommandError(f"no project {opts['project']!r}")
        if opts["activate"] and project is None:
            raise CommandError("--activate needs --project")
        try:
            mv = import_bundle(path=Path(opts["path"]), project=project, activate=opts["activate"],
                               actor="manage.py import_bundle")
        except BundleError as exc:
            raise CommandError(f"invalid bundle: {exc}") from exc
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"{mv.pk} {mv.name}@{mv.version} {mv.state} sha256={mv.sha256[:12]}")
