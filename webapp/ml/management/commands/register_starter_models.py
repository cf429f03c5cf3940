"""Register the starter bundles of inference/bundles/<name>/ (run by `make run`); idempotent.

chest-ct-nodules becomes the active model of project demo-lung when that project exists and has
no active model yet; the others are registered site-wide (import them into a project with import_bundle).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from inference import BundleError
from webapp.core.errors import DomainError
from webapp.labeling.models import Project
from webapp.ml.engine import import_bundle
from webapp.ml.services import ensure_beat_task

BUNDLES = Path(settings.BASE_DIR) / "inference" / "bundles"
DEFAULT_ACTIVE = {"chest-ct-nodules": "demo-lung"}


class Command(BaseCommand):
    help = "Register the starter MONAI bundles as model versions."

    def handle(self, *args: Any, **opts: Any) -> None:
        ensure_beat_task()
        if not BUNDLES.is_dir():
            self.stdout.write("no starter bundles found")
            return
        for path in sorted(p for p in BUNDLES.iterdir() if (p / "configs" / "metadata.json").exists()):
            slug = DEFAULT_ACTIVE.get(path.name)
            project = Project.objects.filter(slug=slug).first() if slug else None
            activate = (project is not None and path.name in DEFAULT_ACTIVE and project.active_model_id is None)
            try:
                mv = import_bundle(path=path, project=project, activate=activate,
                                   actor="register_starter_models")
            except (BundleError, DomainError) as exc:
                self.stderr.write(f"{path.name}: skipped ({exc})")
                continue
            self.stdout.write(f"{path.name}: {mv.name}@{mv.version} {mv.state}"
                              f"{' in ' + project.slug if project else ''}")
