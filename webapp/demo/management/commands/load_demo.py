"""`python manage.py load_demo [--small]`: idempotent demo data (NODUS_DEMO=1 only)."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from webapp.demo.services import load_demo, require_demo_mode


class Command(BaseCommand):
    help = "Load the demo project, users and synthetic chest CT studies (demo mode only)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--small", action="store_true", help="64x64x16 studies (tests)")

    def handle(self, *args: Any, small: bool, **options: Any) -> None:
        require_demo_mode()
        t0 = time.perf_counter()
        kwargs = {"size": 64, "slices": 16} if small else {}
        result = load_demo(log=lambda m: self.stdout.write(m), **kwargs)  # type: ignore[arg-type]
        if result.created:
            self.stdout.write(f"demo loaded in {time.perf_counter() - t0:.1f}s: {result.studies} studies, "
                              f"{result.tasks} tasks; logins admin / annotator / reviewer, password nodus-demo")
        else:
            self.stdout.write(f"demo data already present ({result.studies} studies)")
