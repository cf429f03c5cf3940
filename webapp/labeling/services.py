"""Writes of the labeling app: label revisions (immutable), findings measured by the server,
task workflow (new → in_progress → submitted), restore of an old revision as a new one."""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.db import transaction
from django.utils import timezone

from webapp.accounts.models import Role
from webapp.accounts.permissions import require_role
from webapp.audit.services import record
from webapp.core.errors import Conflict, Forbidden, PayloadTooLarge, ValidationFailed
from webapp.core.storage import get_storage, put_content_addressed
from webapp.ml.measure import measure_segment

from . import codec
from .models import Finding, LabelRevision, Task
from .schema import class_names, validate_attributes
from .selectors import series_grid, series_spacing

log = logging.getLogger(__name__)
MAX_PAYLOAD = 48 * 1024 * 1024  # compressed bytes; a nodule mask is a few kB
EDITOR_ROLES = frozenset({Role.ANNOTATOR, Role.REVIEWER, Role.ADMIN})
OPEN_STATES = {Task.State.NEW, Task.State.IN_PROGRESS, Task.State.RETURNED}


@dataclass(frozen=True)
class FindingIn:
    segment: int
    label_class: str
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LabelPayload:
    """A validated label volume with its findings, ready to be saved: the volume itself or, as
    the API decodes it, only its canonical runs (`codec.decode_runs`), with the grid."""

    findings: list[FindingIn]
    volume: np.ndarray | None = None
    runs: np.ndarray | None = None
    shape: tuple[int, int, int] | None = None

    def run_table(self) -> np.ndarray:
        if self.runs is not None:
            return self.runs
        assert self.volume is not None
        return codec.runs_of(self.volume)

    def grid(self) -> tuple[int, int, int]:
        if self.shape is not None:
            return self.shape
        assert self.volume is not None
        z, y, x = self.volume.shape
        return (z, y, x)


def parse_if_match(value: str | None) -> int | None:
    """`If-Match: "<revision id>"` or `"none"` (no revision yet); 428 when absent."""
    from webapp.core.errors import PreconditionRequired

    if value is None or not value.strip():
        raise PreconditionRequired('saves need If-Match: "<parent revision id>" (or "none" for the first save)')
    tag = value.strip().removeprefix("W/").strip('"')
    if tag == "none":
        return None
    if not tag.isdigit():
        raise ValidationFailed(f"If-Match must be a revision id or \"none\", not {value!r}")
    return int(tag)


def revision_etag(revision_id: int | None) -> str:
    return f'"{revision_id if revision_id is not None else "none"}"'


def require_editor(*, user: Any, task: Task) -> None:
    """Annotators edit only their own open tasks; reviewers and admins edit any task of theirs."""
    held = require_role(user=user, project_id=task.project_id, roles=EDITOR_ROLES, what="editing labels")
    if held & {Role.REVIEWER, Role.ADMIN}:
        if task.state == Task.State.ACCEPTED:
            raise Conflict("the task is accepted; its labels are final", state=task.state)
        return
    if task.assignee_id != user.pk:
        raise Forbidden("this task is assigned to someone else")
    if task.state not in OPEN_STATES:
        raise Conflict(f"the task is {task.state}; it can no longer be edited", state=task.state)


def decode_label_payload(
    *,
    task: Task,
    series_instance_uid: str,
    encoding: str,
    dtype: str,
    shape: list[int],
    data: str,
    findings: list[dict[str, Any]],
) -> LabelPayload:
    """Check everything a client sends before anything is stored; ValidationFailed says why."""
    series = task.series
    if series_instance_uid != series.series_instance_uid:
        raise ValidationFailed(
            "the label volume is for another series than this task's",
            expected=series.series_instance_uid,
        )
    if encoding != codec.ENCODING:
        raise ValidationFailed(f"unsupported encoding {encoding!r}; use {codec.ENCODING!r}")
    if dtype != "uint8":
        raise ValidationFailed(f"label volumes are uint8, not {dtype!r}")
    grid = series_grid(series=series)
    if tuple(shape) != grid:
        raise ValidationFailed(
            f"shape {list(shape)} does not match the series grid {list(grid)} (slices, rows, columns)",
            expected=list(grid),
        )
    if len(data) > MAX_PAYLOAD * 4 // 3 + 4:
        raise PayloadTooLarge(f"label payload over {MAX_PAYLOAD // 2**20} MiB compressed")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValidationFailed(f"data is not valid base64: {exc}") from exc
    try:
        runs = codec.decode_runs(raw, grid)
    except codec.CodecError as exc:
        raise ValidationFailed(str(exc)) from exc

    parsed = parse_findings(task=task, findings=findings)
    segments = {f.segment for f in parsed}
    present = codec.values_present(runs)
    stray = sorted(present - segments)
    if stray:
        raise ValidationFailed(
            f"label values {stray} have no finding; every segment needs one with a class of the schema",
            values=stray,
        )
    z, y, x = grid
    return LabelPayload(findings=parsed, runs=runs, shape=(z, y, x))


def parse_findings(*, task: Task, findings: list[dict[str, Any]]) -> list[FindingIn]:
    schema = task.project.label_schema or {}
    classes = class_names(schema)
    out: list[FindingIn] = []
    seen: set[int] = set()
    for item in findings:
        segment = item.get("segment")
        if not isinstance(segment, int) or isinstance(segment, bool) or not 1 <= segment <= 255:
            raise ValidationFailed(f"finding segment must be an integer in 1..255, not {segment!r}")
        if segment in seen:
            raise ValidationFailed(f"two findings share segment {segment}")
        seen.add(segment)
        label_class = item.get("label_class")
        if label_class not in classes:
            raise ValidationFailed(
                f"class {label_class!r} is not in the project's schema", allowed=classes, segment=segment
            )
        attributes = item.get("attributes") or {}
        if not isinstance(attributes, dict):
            raise ValidationFailed("finding attributes must be an object", segment=segment)
        problems = validate_attributes(schema, attributes)
        if problems:
            raise ValidationFailed("; ".join(problems), segment=segment)
        out.append(FindingIn(segment=segment, label_class=str(label_class), attributes=attributes))
    return out


@dataclass(frozen=True)
class Measured:
    diameter_mm: float | None
    volume_mm3: float | None
    centroid_voxel: list[float] | None


def measure_segments(
    *, runs: np.ndarray, shape: tuple[int, int, int], segments: list[int], spacing: tuple[float, float, float],
    unchanged: dict[int, Measured] | None = None,
) -> dict[int, Measured]:
    """Server-side measurements of each segment (webapp.ml.measure), from its runs: bounding box,
    then a mask of the box only. Segments whose voxels equal the parent's keep its measurements."""
    out: dict[int, Measured] = {}
    for s in segments:
        if unchanged and s in unchanged:
            out[s] = unchanged[s]
            continue
        starts, lengths = codec.segment_runs(runs, s)
        box = codec.segment_box(starts, lengths, shape)
        if box is None:
            out[s] = Measured(None, None, None)
            continue
        m = measure_segment(codec.segment_mask(starts, lengths, shape, box), spacing)
        origin = [sl.start for sl in box]
        centroid = [round(c + o, 2) for c, o in zip(m.centroid_voxel, origin, strict=True)]
        out[s] = Measured(m.diameter_mm, m.volume_mm3, centroid)
    return out


def _unchanged_segments(*, parent_id: int | None, runs: np.ndarray, shape: tuple[int, int, int]) -> dict[int, Measured]:
    """Measurements of the parent's findings whose voxels did not change (compared run by run)."""
    if parent_id is None:
        return {}
    parent = LabelRevision.objects.filter(pk=parent_id).first()
    if parent is None or tuple(parent.shape) != shape:
        return {}
    try:
        old = codec.decode_runs(get_storage().read(parent.storage_key), shape)
    except (codec.CodecError, OSError):
        return {}
    out: dict[int, Measured] = {}
    fields = ("segment", "diameter_mm", "volume_mm3", "centroid_voxel")
    for f in Finding.objects.filter(revision_id=parent_id).only(*fields):
        a, b = codec.segment_runs(old, f.segment), codec.segment_runs(runs, f.segment)
        if np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]):
            out[f.segment] = Measured(f.diameter_mm, f.volume_mm3, f.centroid_voxel)
    return out


def _centroid_mm(series: Any, centroid: list[float] | None) -> list[float] | None:
    """Patient coordinates of a (z, y, x) voxel centroid, when the series geometry is known."""
    first = series.instances.order_by("slice_position", "instance_number", "id").values_list(
        "image_position", flat=True
    ).first()
    if centroid is None or not first or not series.orientation or len(series.orientation) < 6:
        return None
    z, y, x = centroid
    sl, row, col = series_spacing(series=series)
    o = np.asarray(series.orientation[:6], dtype=float)
    r, c = o[:3], o[3:]
    n = np.cross(r, c)
    p = np.asarray(first, dtype=float) + r * x * col + c * y * row + n * z * sl
    return [round(float(v), 2) for v in p]


def save_label_revision(
    *,
    task: Task,
    author: Any,
    parent_id: int | None,
    payload: LabelPayload,
    message: str = "",
) -> LabelRevision:
    """Store a new immutable revision of the task's labels and its findings (measured here).

    The parent must be the task's head (optimistic concurrency, `If-Match`): a stale parent gets
    Conflict with the current head, never a silent overwrite.
    """
    require_editor(user=author, task=task)
    series = task.series
    spacing = series_spacing(series=series)
    segments = [f.segment for f in payload.findings]
    runs, shape = payload.run_table(), payload.grid()
    measured = measure_segments(runs=runs, shape=shape, segments=segments, spacing=spacing,
                                unchanged=_unchanged_segments(parent_id=parent_id, runs=runs, shape=shape))
    blob = codec.encode_runs(runs)
    with transaction.atomic():
        locked = Task.objects.select_for_update().get(pk=task.pk)
        if locked.head_revision_id != parent_id:
            raise Conflict(
                "the labels changed since you loaded them; reload to see the current revision",
                current=locked.head_revision_id,
            )
        require_editor(user=author, task=locked)
        key, digest = put_content_addressed("labels", blob)
        rev = LabelRevision.objects.create(
            task=locked, parent_id=parent_id, author=author, storage_key=key, encoding=codec.ENCODING,
            shape=list(shape), sha256=digest, size=len(blob), message=message[:200],
        )
        previous = {f.segment: f for f in Finding.objects.filter(revision_id=parent_id)} if parent_id else {}
        for f in payload.findings:
            m = measured[f.segment]
            _create_finding(task=locked, revision=rev, item=f, measured=m, previous=previous.get(f.segment))
        _advance_after_save(task=locked, revision=rev)
        record(actor=author, action="label.save", target=rev, project_id=locked.project_id,
               data={"task": locked.pk, "parent": parent_id, "findings": segments, "size": len(blob)})
        transaction.on_commit(lambda: announce_revision(revision_id=rev.pk))
    return rev


def _create_finding(
    *, task: Task, revision: LabelRevision, item: FindingIn, measured: Measured, previous: Finding | None
) -> Finding:
    source: str = Finding.Source.HUMAN
    status: str = Finding.Status.ACCEPTED
    probability, detector, model_version_id = None, "", None
    if previous is not None:  # who proposed a finding stays with it through edits
        source, status = previous.source, previous.status
        probability, detector, model_version_id = previous.probability, previous.detector, previous.model_version_id
        changed = (
            previous.label_class != item.label_class
            or previous.attributes != item.attributes
            or previous.volume_mm3 != measured.volume_mm3
            or previous.centroid_voxel != measured.centroid_voxel
        )
        if changed and source == Finding.Source.AI:
            status = Finding.Status.EDITED
    return Finding.objects.create(
        task=task, revision=revision, segment=item.segment, label_class=item.label_class,
        attributes=item.attributes, centroid_voxel=measured.centroid_voxel,
        centroid_mm=_centroid_mm(task.series, measured.centroid_voxel),
        diameter_mm=measured.diameter_mm, volume_mm3=measured.volume_mm3, probability=probability,
        detector=detector, source=source, status=status, model_version_id=model_version_id,
    )


_NOT_COPIED = {"id", "task_id", "revision_id", "created", "updated"}


def copy_finding(finding: Finding, *, revision: LabelRevision, **changes: Any) -> Finding:
    """The finding on another revision of its task: every field (measurements, who proposed
    it, its triage status) carried over unless `changes` says otherwise, so a field added to
    Finding later is not silently dropped by restores and accepts."""
    values = {f.attname: getattr(finding, f.attname) for f in Finding._meta.concrete_fields
              if f.attname not in _NOT_COPIED}
    return Finding.objects.create(task_id=revision.task_id, revision=revision, **{**values, **changes})


def _advance_after_save(*, task: Task, revision: LabelRevision) -> None:
    task.head_revision = revision
    fields = ["head_revision", "updated"]
    if task.state in {Task.State.NEW, Task.State.RETURNED}:
        task.state = Task.State.IN_PROGRESS
        fields.append("state")
    task.save(update_fields=fields)


def restore_revision(*, revision: LabelRevision, author: Any, parent_id: int | None) -> LabelRevision:
    """Make an old revision the head again, as a new revision (history is never rewritten)."""
    task = revision.task
    require_editor(user=author, task=task)
    with transaction.atomic():
        locked = Task.objects.select_for_update().get(pk=task.pk)
        if locked.head_revision_id != parent_id:
            raise Conflict("the labels changed since you loaded them", current=locked.head_revision_id)
        rev = LabelRevision.objects.create(
            task=locked, parent_id=parent_id, author=author, storage_key=revision.storage_key,
            encoding=revision.encoding, shape=revision.shape, sha256=revision.sha256, size=revision.size,
            message=f"restore of revision {revision.pk}",
        )
        for f in Finding.objects.filter(revision=revision):
            copy_finding(f, revision=rev)
        _advance_after_save(task=locked, revision=rev)
        record(actor=author, action="label.restore", target=rev, project_id=locked.project_id,
               data={"task": locked.pk, "restored": revision.pk, "parent": parent_id})
        transaction.on_commit(lambda: announce_revision(revision_id=rev.pk))
    return rev


def submit_task(*, task: Task, user: Any) -> Task:
    """in_progress (or new/returned) → submitted, by the assignee (or an admin)."""
    held = require_role(user=user, project_id=task.project_id, roles=EDITOR_ROLES, what="submitting a task")
    if task.assignee_id != user.pk and Role.ADMIN not in held:
        raise Forbidden("only the assignee or a project admin submits a task")
    with transaction.atomic():
        locked = Task.objects.select_for_update().get(pk=task.pk)
        if locked.state not in OPEN_STATES:
            raise Conflict(f"the task is already {locked.state}", state=locked.state)
        locked.state = Task.State.SUBMITTED
        locked.submitted_at = timezone.now()
        locked.save(update_fields=["state", "submitted_at", "updated"])
        record(actor=user, action="task.submit", target=locked, project_id=locked.project_id,
               data={"head_revision": locked.head_revision_id})
        pk = locked.pk
        transaction.on_commit(lambda: _announce_task(task_id=pk, type_="task.submitted"))
    return locked


def announce_revision(*, revision_id: int) -> None:
    """Tell viewers of the series and the project that a new revision exists (best effort)."""
    from webapp.realtime.publish import publish

    rev = LabelRevision.objects.select_related("task__series", "task__project").get(pk=revision_id)
    data = {"task": rev.task_id, "revision": rev.pk, "parent": rev.parent_id,
            "author": getattr(rev.author, "username", None)}
    try:
        publish(f"series.{rev.task.series.series_instance_uid}", "label.saved", data)
        publish(f"project.{rev.task.project.slug}", "label.saved", data)
    except Exception:  # noqa: BLE001 - realtime is best effort
        log.exception("could not announce revision %s", revision_id)


def _announce_task(*, task_id: int, type_: str) -> None:
    from webapp.realtime.publish import publish

    task = Task.objects.select_related("project").get(pk=task_id)
    try:
        publish(f"project.{task.project.slug}", type_, {"task": task.pk, "state": task.state})
    except Exception:  # noqa: BLE001 - realtime is best effort
        log.exception("could not announce task %s", task_id)
