"""DICOM C-STORE / C-ECHO receiver (pynetdicom). The called AE title selects the project: the
project's slug upper-cased, or NODUS_DICOM_AE_TITLE (default NODUS) for NODUS_DEFAULT_PROJECT.
Each received instance goes through the ingest service (one transaction per instance, so a
success status is only sent once the instance is stored and indexed)."""

from __future__ import annotations

import io
import logging
from typing import Any

from django.conf import settings
from django.db import close_old_connections
from pydicom.filewriter import dcmwrite
from pynetdicom import AE, AllStoragePresentationContexts, evt
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from webapp.labeling.models import Project

from .dicom import SUPPORTED_TRANSFER_SYNTAXES
from .services import IncomingFile, ingest_files

log = logging.getLogger(__name__)
FAILED_PROCESSING = 0xC210
CANNOT_UNDERSTAND = 0xC000  # refused by validation (reason logged and kept in quarantine)
UNKNOWN_DESTINATION = 0xA801  # "Move destination unknown" is the closest standard refusal code


def project_for_ae_title(title: str) -> Project | None:
    title = title.strip()
    if title.upper() == settings.NODUS_DICOM_AE_TITLE.upper():
        return Project.objects.filter(slug=settings.NODUS_DEFAULT_PROJECT).first()
    return Project.objects.filter(slug=title.lower()).first()


def handle_store(event: Any) -> int:
    close_old_connections()
    try:
        # The title the requestor called (acceptor.ae_title is our own).
        called = event.assoc.requestor.primitive.called_ae_title
        project = project_for_ae_title(called if isinstance(called, str) else called.decode())
        if project is None:
            log.warning("C-STORE to unknown AE title %r refused", called)
            return UNKNOWN_DESTINATION
        ds = event.dataset
        ds.file_meta = event.file_meta
        buf = io.BytesIO()
        dcmwrite(buf, ds, enforce_file_format=True)
        calling = event.assoc.requestor.ae_title
        report = ingest_files(project=project, files=[IncomingFile(f"C-STORE from {calling}", buf.getvalue())],
                              actor=None, source="cstore")
        result = report.results[0]
        if result.status == "refused":
            log.warning("C-STORE refused: %s %s", result.rule, result.reason)
            return CANNOT_UNDERSTAND
        return 0x0000
    except Exception:
        log.exception("C-STORE failed")
        return FAILED_PROCESSING
    finally:
        close_old_connections()


def build_ae(*, ae_title: str | None = None) -> AE:
    ae = AE(ae_title=ae_title or settings.NODUS_DICOM_AE_TITLE)
    ae.require_called_aet = False  # any project AE title is accepted; the handler picks the project
    syntaxes = sorted(SUPPORTED_TRANSFER_SYNTAXES)
    for cx in AllStoragePresentationContexts:
        if cx.abstract_syntax:
            ae.add_supported_context(cx.abstract_syntax, syntaxes)
    ae.add_supported_context(Verification)
    ae.maximum_pdu_size = 0
    return ae


def handlers() -> Any:
    return [(evt.EVT_C_STORE, handle_store)]
