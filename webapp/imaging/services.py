"""Writes of the imaging catalog: the one ingest service every entry point uses (STOW-RS, upload
page, `import_dicom`, C-STORE), quarantine, and series geometry.

Per batch: parse + validate each file (header only) → store accepted bytes content-addressed
(temp → fsync → rename) → index Patient/Study/Series/Instance with bulk inserts in ONE transaction
→ one AuditEvent. A failure before commit leaves no rows (a stored orphan file is harmless:
content-addressed, identical bytes reuse it).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import math
import statistics
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count

from webapp.audit.services import record
from webapp.core.storage import content_key, get_storage, sha256_bytes
from webapp.labeling.models import Project

from . import deid
from .dicom import Parsed, Refused, metadata_json, parse
from .models import Instance, Patient, QuarantinedFile, Series, Study
from .prefetch import in_background
from .signals import series_ingested

log = logging.getLogger(__name__)
BATCH = 200
BATCH_BYTES = 128 * 1024**2  # bounds the bytes a batch holds when files are large
STORED, PRESENT, REFUSED = "stored", "present", "refused"


@dataclass
class IncomingFile:
    name: str
    data: bytes
    # Set when the file was refused before parsing (unsafe zip entry, interrupted upload): (rule, reason).
    refused: tuple[str, str] | None = None


@dataclass
class FileResult:
    name: str
    status: str
    sop_instance_uid: str = ""
    sop_class_uid: str = ""
    study_instance_uid: str = ""
    series_instance_uid: str = ""
    rule: str = ""
    reason: str = ""
    http_status: int = 200
    quarantine_id: int | None = None
    failure_reason: int | None = None  # STOW-RS FailureReason (PS3.18 Table 10.5.3-1) of a refusal

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"file": self.name, "status": self.status, "sop_instance_uid": self.sop_instance_uid,
               "study_instance_uid": self.study_instance_uid, "series_instance_uid": self.series_instance_uid}
        if self.status == REFUSED:
            out.update(rule=self.rule, reason=self.reason, quarantine_id=self.quarantine_id,
                       failure_reason=self.failure_reason)
        return out


@dataclass
class IngestReport:
    results: list[FileResult] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def refused(self) -> list[FileResult]:
        return [r for r in self.results if r.status == REFUSED]

    def summary(self) -> dict[str, int]:
        return {"stored": self.count(STORED), "present": self.count(PRESENT), "refused": self.count(REFUSED)}


def ingest_files(
    *, project: Project, files: Iterable[IncomingFile], actor: Any, source: str, batch_size: int = BATCH,
    batch_bytes: int = BATCH_BYTES, expect_study: str | None = None, progress: Any = None, prefetch: bool = False,
) -> IngestReport:
    """Ingest files into `project`; never raises for a bad file (it is refused and quarantined).

    Batches hold at most `batch_size` files and about `batch_bytes` bytes (bounded memory).
    `expect_study`: STOW-RS to /studies/{uid} refuses instances of other studies.
    `progress(results)`: called after each batch (CLI progress bars).
    `prefetch`: read and parse the next batch in a worker thread while this one is stored and
    indexed (the same checks and the same results; `files` is then iterated in that thread, so it
    must not touch the database)."""
    report = IngestReport()
    limits = {"max_bytes": settings.NODUS_MAX_UPLOAD_BYTES, "max_decoded_bytes": settings.NODUS_MAX_DECODED_BYTES}

    def parsed_batches() -> Iterator[list[tuple[IncomingFile, Parsed | Refused]]]:
        batch: list[tuple[IncomingFile, Parsed | Refused]] = []
        size = 0
        pause = contextlib.ExitStack()
        try:
            for f in files:
                if not batch:
                    pause.enter_context(_gc_paused())  # while the batch is read and parsed
                batch.append((f, _parse(f, limits)))
                size += len(f.data)
                if len(batch) >= batch_size or size >= batch_bytes:
                    pause.close()
                    yield batch
                    batch, size = [], 0
        finally:
            pause.close()
        if batch:
            yield batch

    batches = parsed_batches()
    if prefetch:
        batches = in_background(batches, depth=2, name="ingest-parse")
    for batch in batches:
        with _gc_paused():
            done = _ingest_batch(project=project, parsed=batch, actor=actor, source=source,
                                 expect_study=expect_study, limits=limits)
        del batch  # not held while the next batch is read (at most two batches in memory)
        report.results.extend(done)
        if progress is not None:
            progress(done)
    return report


_gc_lock = threading.Lock()
_gc_pauses = 0
_gc_was_enabled = False


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while parsing or indexing: parsing allocates ~100 objects per
    element and triggered full collections over the whole heap (≈ 10 % of a STOW). What ingest
    allocates is acyclic (freed by reference counting); collection resumes when the last of the
    (possibly concurrent: prefetch) pauses ends."""
    global _gc_pauses, _gc_was_enabled
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled:
                gc.enable()


def _parse(f: IncomingFile, limits: dict[str, int]) -> Parsed | Refused:
    """Validation that needs no database (runs in the prefetch thread when there is one)."""
    try:
        if f.refused:
            raise Refused(*f.refused)
        return parse(f.data, **limits)
    except Refused as exc:
        return exc


def refuse_upload(*, project: Project | None, name: str, data: bytes, rule: str, reason: str, actor: Any,
                  source: str, status: int = 400) -> FileResult:
    """Refuse something that never reached DICOM parsing (a zip entry, an interrupted part)."""
    q = _quarantine(project=project, items=[(name, data, rule, reason)], actor=actor, source=source)[0]
    return FileResult(name=name, status=REFUSED, rule=rule, reason=reason, http_status=status, quarantine_id=q.pk,
                      failure_reason=Refused(rule, reason).failure)


def _ingest_batch(*, project: Project, parsed: list[tuple[IncomingFile, Parsed | Refused]], actor: Any,
                  source: str, limits: dict[str, int], expect_study: str | None = None) -> list[FileResult]:
    files = [f for f, _ in parsed]
    results: list[FileResult | None] = [None] * len(files)
    refusals: list[tuple[int, str, bytes, Refused]] = []
    accepted: list[tuple[int, Parsed]] = []
    for i, (f, p) in enumerate(parsed):
        try:
            if isinstance(p, Refused):
                raise p
            if expect_study and p.study_instance_uid != expect_study:
                raise Refused("study_mismatch", f"instance belongs to study {p.study_instance_uid}, not to "
                                                f"{expect_study}", status=409, sop_class_uid=p.sop_class_uid,
                              sop_instance_uid=p.sop_instance_uid)
            if project.deidentify:
                p = deid.apply(project=project, parsed=p, **limits)
            accepted.append((i, p))
        except Refused as exc:
            refusals.append((i, f.name, f.data, exc))

    # Duplicates inside the batch: the first wins, identical later ones are "already present".
    seen: dict[str, Parsed] = {}
    unique: list[tuple[int, Parsed]] = []
    for i, p in accepted:
        first = seen.get(p.sop_instance_uid)
        if first is None:
            seen[p.sop_instance_uid] = p
            unique.append((i, p))
        elif first.sha256 == p.sha256:
            results[i] = _ok(files[i].name, p, PRESENT)
        else:
            refusals.append((i, files[i].name, files[i].data, Refused(
                "conflict", f"SOP Instance UID {p.sop_instance_uid} appears twice with different content", status=409,
                sop_class_uid=p.sop_class_uid, sop_instance_uid=p.sop_instance_uid)))

    if unique:
        storage = get_storage()
        pending: list[tuple[str, bytes]] = []
        for _, p in unique:
            key = content_key("dicom", p.sha256, ".dcm")
            if not storage.exists(key):
                pending.append((key, p.data))
            p.extra["storage_key"] = key
        if hasattr(storage, "write_many"):
            storage.write_many(pending)  # one durable flush per batch, before the rows commit
        else:
            for key, data in pending:
                storage.write_atomic(key, data)
        by_index = dict(unique)
        for i, outcome in _index(project=project, items=unique, actor=actor, source=source):
            if isinstance(outcome, Refused):
                p = by_index[i]
                refusals.append((i, files[i].name, files[i].data, outcome.of(
                    sop_class_uid=p.sop_class_uid, sop_instance_uid=p.sop_instance_uid)))
            else:
                results[i] = outcome
    if refusals:
        rows = _quarantine(project=project, items=[(n, d, e.rule, e.reason) for _, n, d, e in refusals],
                           actor=actor, source=source)
        for (i, name, _, refusal), q in zip(refusals, rows, strict=True):
            results[i] = FileResult(name=name, status=REFUSED, rule=refusal.rule, reason=refusal.reason,
                                    http_status=refusal.status, quarantine_id=q.pk, failure_reason=refusal.failure,
                                    sop_class_uid=refusal.sop_class_uid, sop_instance_uid=refusal.sop_instance_uid)
    return [r for r in results if r is not None]


def _ok(name: str, p: Parsed, status: str) -> FileResult:
    return FileResult(name=name, status=status, sop_instance_uid=p.sop_instance_uid, sop_class_uid=p.sop_class_uid,
                      study_instance_uid=p.study_instance_uid, series_instance_uid=p.series_instance_uid)


def _index(*, project: Project, items: list[tuple[int, Parsed]], actor: Any, source: str,
           ) -> list[tuple[int, FileResult | Refused]]:
    for attempt in range(3):
        try:
            with transaction.atomic():
                return _index_once(project=project, items=items, actor=actor, source=source)
        except IntegrityError:
            # A concurrent ingest created the same patient/study/series/instance: retry sees it.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _index_once(*, project: Project, items: list[tuple[int, Parsed]], actor: Any, source: str,
                ) -> list[tuple[int, FileResult | Refused]]:
    out: list[tuple[int, FileResult | Refused]] = []
    existing = dict(Instance.objects.filter(sop_instance_uid__in=[p.sop_instance_uid for _, p in items])
                    .values_list("sop_instance_uid", "sha256"))
    fresh: list[tuple[int, Parsed]] = []
    for i, p in items:
        digest = existing.get(p.sop_instance_uid)
        if digest is None:
            fresh.append((i, p))
        elif digest == p.sha256:
            out.append((i, _ok("", p, PRESENT)))
        else:
            out.append((i, Refused("conflict", f"SOP Instance UID {p.sop_instance_uid} is already stored with "
                                               "different content; the stored file is unchanged", status=409)))
    if not fresh:
        return out

    studies = _studies(project=project, parsed=[p for _, p in fresh])
    series_map = _series(studies=studies, parsed=[p for _, p in fresh])
    rows: list[Instance] = []
    for i, p in fresh:
        study = studies.get(p.study_instance_uid)
        series = series_map.get(p.series_instance_uid)
        if isinstance(study, Refused):
            out.append((i, study))
            continue
        if isinstance(series, Refused) or series is None:
            out.append((i, series or Refused("conflict", "series could not be indexed", status=409)))
            continue
        rows.append(Instance(
            series=series, sop_instance_uid=p.sop_instance_uid, sop_class_uid=p.sop_class_uid,
            instance_number=_safe_int(p.ds.get("InstanceNumber")), transfer_syntax_uid=p.transfer_syntax_uid,
            sha256=p.sha256, storage_key=p.extra["storage_key"], size=len(p.data), rows=p.rows,
            columns=p.columns, number_of_frames=p.frames, slice_position=p.slice_position,
            image_position=p.image_position, orientation=p.orientation, pixel_spacing=p.pixel_spacing,
            samples_per_pixel=p.samples_per_pixel, bits_allocated=p.bits_allocated,
            pixel_offset=p.pixel_offset, pixel_length=p.pixel_length,
            metadata=metadata_json(p),
        ))
        out.append((i, _ok("", p, STORED)))
    Instance.objects.bulk_create(rows, batch_size=500)
    touched = {r.series_id for r in rows}
    for series in {s.pk: s for s in series_map.values() if isinstance(s, Series) and s.pk in touched}.values():
        update_series(series=series)
    for study in {s.pk: s for s in studies.values() if isinstance(s, Study)}.values():
        if any(isinstance(s, Series) and s.study_id == study.pk and s.pk in touched for s in series_map.values()):
            _update_study_counts(study=study)
    if rows:
        record(actor=actor, action="dicom.ingest", project_id=project.pk,
               data={"source": source, "instances": len(rows),
                     "studies": sorted({p.study_instance_uid for _, p in fresh})[:50]})
        ids = sorted(touched)
        transaction.on_commit(lambda: series_ingested.send(sender=Series, series_ids=ids, project_id=project.pk))
    return out


def _safe_int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _study_date(value: Any) -> date | None:
    text = str(value or "").strip()
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def _studies(*, project: Project, parsed: list[Parsed]) -> dict[str, Study | Refused]:
    by_uid: dict[str, Parsed] = {}
    for p in parsed:
        by_uid.setdefault(p.study_instance_uid, p)
    found: dict[str, Study | Refused] = {}
    for study in Study.objects.filter(study_instance_uid__in=list(by_uid)):
        found[study.study_instance_uid] = study if study.project_id == project.pk else Refused(
            "other_project", f"study {study.study_instance_uid} belongs to another project", status=409)
    for uid, p in by_uid.items():
        if uid in found:
            continue
        ds = p.ds
        patient, _ = Patient.objects.get_or_create(
            project=project, patient_id=_text(ds, "PatientID", 64),
            defaults={"name": _text(ds, "PatientName", 324), "birth_date": _text(ds, "PatientBirthDate", 8),
                      "sex": _text(ds, "PatientSex", 16)})
        found[uid] = Study.objects.create(
            project=project, patient=patient, study_instance_uid=uid, study_date=_study_date(ds.get("StudyDate")),
            study_time=_text(ds, "StudyTime", 16), accession_number=_text(ds, "AccessionNumber", 64),
            description=_text(ds, "StudyDescription", 200),
            referring_physician=_text(ds, "ReferringPhysicianName", 324), study_id=_text(ds, "StudyID", 16))
    return found


def _series(*, studies: dict[str, Study | Refused], parsed: list[Parsed]) -> dict[str, Series | Refused]:
    by_uid: dict[str, Parsed] = {}
    for p in parsed:
        by_uid.setdefault(p.series_instance_uid, p)
    found: dict[str, Series | Refused] = {}
    for series in Series.objects.filter(series_instance_uid__in=list(by_uid)):
        study = studies.get(by_uid[series.series_instance_uid].study_instance_uid)
        if isinstance(study, Study) and series.study_id == study.pk:
            found[series.series_instance_uid] = series
        else:
            found[series.series_instance_uid] = Refused(
                "series_study_mismatch", f"series {series.series_instance_uid} belongs to another study", status=409)
    for uid, p in by_uid.items():
        study = studies.get(p.study_instance_uid)
        if uid in found or not isinstance(study, Study):
            continue
        ds = p.ds
        found[uid] = Series.objects.create(
            study=study, series_instance_uid=uid, modality=p.modality,
            series_number=_safe_int(ds.get("SeriesNumber")), description=_text(ds, "SeriesDescription", 200),
            body_part=_text(ds, "BodyPartExamined", 64), frame_of_reference_uid=_text(ds, "FrameOfReferenceUID", 64),
            rows=p.rows, columns=p.columns)
    return found


def _text(ds: Any, keyword: str, limit: int) -> str:
    from .dicom import _text as text

    return text(ds, keyword, limit)


def _update_study_counts(*, study: Study) -> None:
    agg = Series.objects.filter(study=study).values("id", "modality").annotate(n=Count("instances"))
    modalities = sorted({a["modality"] for a in agg if a["modality"]})
    study.num_series = len(agg)
    study.num_instances = sum(a["n"] for a in agg)
    study.modalities = "\\".join(modalities)[:64]
    study.save(update_fields=["num_series", "num_instances", "modalities"])


def update_series(*, series: Series) -> Series:
    """Counts and geometry of a series from its instances: sort along the normal, spacing, gaps,
    duplicates; an inconsistent series is flagged with a readable reason, never silently used."""
    rows = list(Instance.objects.filter(series=series).values_list(
        "slice_position", "orientation", "rows", "columns", "pixel_spacing", "number_of_frames"))
    series.num_instances = len(rows)
    issues: list[str] = []
    sizes = {(r[2], r[3]) for r in rows if r[2]}
    if len(sizes) > 1:
        issues.append("mixed image sizes: " + ", ".join(f"{a}x{b}" for a, b in sorted(sizes)))
    if sizes:
        series.rows, series.columns = sorted(sizes)[0]
    orientations = [r[1] for r in rows if r[1]]
    orientation = orientations[0] if orientations else []
    if any(max(abs(a - b) for a, b in zip(o, orientation, strict=True)) > 1e-3 for o in orientations):
        issues.append("mixed image orientations")
    pixel_spacings = [r[4] for r in rows if r[4]]
    if any(max(abs(a - b) for a, b in zip(ps, pixel_spacings[0], strict=True)) > 1e-3 for ps in pixel_spacings):
        issues.append("mixed pixel spacing")
    positions = sorted(r[0] for r in rows if r[0] is not None)
    slice_spacing: float | None = None
    if len(positions) > 1 and not issues:
        steps = [b - a for a, b in zip(positions, positions[1:], strict=False)]
        dups = [positions[k] for k, s in enumerate(steps) if s < 1e-3]
        if dups:
            issues.append(f"{len(dups)} duplicate slice position(s), first at {dups[0]:.2f} mm")
        real = [s for s in steps if s >= 1e-3]
        if real:
            slice_spacing = statistics.median(real)
            gaps = [(positions[k], s) for k, s in enumerate(steps) if s > 1.5 * slice_spacing]
            if gaps:
                at, size = gaps[0]
                issues.append(f"{len(gaps)} gap(s) in slice positions, first after {at:.2f} mm "
                              f"({size:.2f} mm instead of {slice_spacing:.2f} mm)")
            elif max(real) - min(real) > 0.1 * slice_spacing:
                issues.append(f"irregular slice spacing ({min(real):.2f}–{max(real):.2f} mm)")
    if len(positions) != len(rows) and orientations and len(rows) > 1 and all(r[5] == 1 for r in rows):
        issues.append(f"{len(rows) - len(positions)} slice(s) without a position")
    ps = pixel_spacings[0] if pixel_spacings else None
    series.spacing = [ps[0] if ps else None, ps[1] if ps else None,
                      round(slice_spacing, 6) if slice_spacing is not None and math.isfinite(slice_spacing) else None]
    series.orientation = orientation or None
    series.geometry_ok = not issues
    series.geometry_issue = "; ".join(issues)[:500]
    series.save(update_fields=["num_instances", "rows", "columns", "spacing", "orientation", "geometry_ok",
                               "geometry_issue"])
    return series


def _quarantine(*, project: Project | None, items: list[tuple[str, bytes, str, str]], actor: Any,
                source: str) -> list[QuarantinedFile]:
    storage = get_storage()
    rows = []
    for name, data, rule, reason in items:
        digest = sha256_bytes(data)
        key = content_key("quarantine", digest, ".bin") if data else ""
        if data and not storage.exists(key):
            storage.write_atomic(key, data)
        rows.append(QuarantinedFile(
            project=project, filename=name[:500], reason=reason[:500], rule=rule[:64], sha256=digest if data else "",
            storage_key=key, size=len(data), source=source,
            uploaded_by=actor if getattr(actor, "is_authenticated", False) else None))
    with transaction.atomic():
        created = QuarantinedFile.objects.bulk_create(rows)
        record(actor=actor, action="dicom.quarantine", project_id=project.pk if project else None,
               data={"source": source, "files": [[r.filename[:100], r.rule] for r in rows[:50]]})
    return created


def delete_quarantined(*, item: QuarantinedFile, actor: Any) -> None:
    """Remove a quarantine row and its bytes (unless another row holds the same content)."""
    with transaction.atomic():
        key = item.storage_key
        record(actor=actor, action="dicom.quarantine.delete", target=item, project_id=item.project_id,
               data={"filename": item.filename, "rule": item.rule})
        item.delete()
        if key and not QuarantinedFile.objects.filter(storage_key=key).exists():
            transaction.on_commit(lambda: get_storage().delete(key))
