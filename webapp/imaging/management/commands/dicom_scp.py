"""`python manage.py dicom_scp [--port N]`: C-STORE + C-ECHO receiver (started by `make run`)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from webapp.imaging.scp import build_ae, handlers


class Command(BaseCommand):
    help = "Run the DICOM C-STORE/C-ECHO receiver; the called AE title selects the project."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=settings.NODUS_DICOM_PORT)
        parser.add_argument("--host", default="127.0.0.1" if settings.DEMO else "0.0.0.0")  # noqa: S104

    def handle(self, *args: Any, port: int, host: str, **options: Any) -> None:
        ae = build_ae()
        self.stdout.write(f"DICOM receiver on {host}:{port}, AE title {settings.NODUS_DICOM_AE_TITLE} → "
                          f"{settings.NODUS_DEFAULT_PROJECT}; <PROJECT-SLUG> → that project")
        ae.start_server((host, port), block=True, evt_handlers=handlers())
