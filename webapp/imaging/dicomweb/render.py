"""DICOM JSON (PS3.18 F.2) of catalog rows for QIDO-RS, and the STOW-RS response dataset."""

from __future__ import annotations

import json
from typing import Any

from pydicom.datadict import dictionary_VR, tag_for_keyword

from ..models import Instance, Series, Study
from ..services import PRESENT, REFUSED, STORED, IngestReport

FAILURE_CODES = {"sop_class": 0x0122, "transfer_syntax": 0xC122, "conflict": 0x0111, "too_large": 0xA700,
                 "study_mismatch": 0xA900, "other_project": 0x0111, "series_study_mismatch": 0x0111}


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def el(vr: str, *values: Any) -> dict[str, Any]:
    vals = [v for v in values if v not in (None, "")]
    if not vals:
        return {"vr": vr}
    if vr == "PN":
        return {"vr": vr, "Value": [{"Alphabetic": str(v)} for v in vals]}
    return {"vr": vr, "Value": list(vals)}


def _date(value: Any) -> str | None:
    return value.strftime("%Y%m%d") if value else None


def study(row: Study, *, root: str) -> dict[str, Any]:
    p = row.patient
    return {
        "00080005": el("CS", "ISO_IR 192"),
        "00080020": el("DA", _date(row.study_date)),
        "00080030": el("TM", row.study_time),
        "00080050": el("SH", row.accession_number),
        "00080061": el("CS", *[m for m in row.modalities.split("\\") if m]),
        "00080090": el("PN", row.referring_physician),
        "00081030": el("LO", row.description),
        "00081190": el("UR", f"{root}/studies/{row.study_instance_uid}"),
        "00100010": el("PN", p.name),
        "00100020": el("LO", p.patient_id),
        "00100030": el("DA", p.birth_date),
        "00100040": el("CS", p.sex),
        "0020000D": el("UI", row.study_instance_uid),
        "00200010": el("SH", row.study_id),
        "00201206": el("IS", row.num_series),
        "00201208": el("IS", row.num_instances),
    }


def series(row: Series, *, root: str) -> dict[str, Any]:
    st = row.study
    return {
        "00080005": el("CS", "ISO_IR 192"),
        "00080060": el("CS", row.modality),
        "0008103E": el("LO", row.description),
        "00081190": el("UR", f"{root}/studies/{st.study_instance_uid}/series/{row.series_instance_uid}"),
        "00180015": el("CS", row.body_part),
        "0020000D": el("UI", st.study_instance_uid),
        "0020000E": el("UI", row.series_instance_uid),
        "00200011": el("IS", row.series_number),
        "00200052": el("UI", row.frame_of_reference_uid),
        "00201209": el("IS", row.num_instances),
        "00100020": el("LO", st.patient.patient_id),
        "00100010": el("PN", st.patient.name),
    }


def instance(row: Instance, *, root: str) -> dict[str, Any]:
    se = row.series
    st = se.study
    return {
        "00080016": el("UI", row.sop_class_uid),
        "00080018": el("UI", row.sop_instance_uid),
        "00080060": el("CS", se.modality),
        "00081190": el("UR", f"{root}/studies/{st.study_instance_uid}/series/{se.series_instance_uid}"
                             f"/instances/{row.sop_instance_uid}"),
        "00083002": el("UI", row.transfer_syntax_uid),
        "0020000D": el("UI", st.study_instance_uid),
        "0020000E": el("UI", se.series_instance_uid),
        "00200013": el("IS", row.instance_number),
        "00280008": el("IS", row.number_of_frames),
        "00280010": el("US", row.rows),
        "00280011": el("US", row.columns),
    }


def add_includes(items: list[dict[str, Any]], rows: list[Any], includes: set[str]) -> None:
    """`includefield`: extra attributes (or `all`) taken from the cached header of a representative
    instance of each result (one query per result; only when asked)."""
    tags: set[str] | None = None
    if "all" not in includes:
        tags = set()
        for name in includes:
            tag = tag_for_keyword(name)
            if tag is None and len(name) == 8:
                try:
                    tag = int(name, 16)
                    dictionary_VR(tag)
                except (ValueError, KeyError):
                    tag = None
            if tag is not None:
                tags.add(f"{tag:08X}")
    for item, row in zip(items, rows, strict=True):
        if isinstance(row, Study):
            inst = Instance.objects.filter(series__study=row).only("metadata").first()
        elif isinstance(row, Series):
            inst = Instance.objects.filter(series=row).only("metadata").first()
        else:
            inst = Instance.objects.filter(pk=row.pk).only("metadata").first()
        if inst is None or not inst.metadata:
            continue
        header = json.loads(inst.metadata)
        for key, value in header.items():
            if key not in item and (tags is None or key in tags) and "BulkDataURI" not in value:
                item[key] = value


def stow_response(report: IngestReport, *, root: str) -> tuple[dict[str, Any], int]:
    ok = [r for r in report.results if r.status in (STORED, PRESENT)]
    failed = [r for r in report.results if r.status == REFUSED]
    body: dict[str, Any] = {}
    studies = sorted({r.study_instance_uid for r in ok})
    if len(studies) == 1:
        body["00081190"] = el("UR", f"{root}/studies/{studies[0]}")
    if ok:
        body["00081199"] = {"vr": "SQ", "Value": [{
            "00081150": el("UI", r.sop_class_uid),
            "00081155": el("UI", r.sop_instance_uid),
            "00081190": el("UR", f"{root}/studies/{r.study_instance_uid}/series/{r.series_instance_uid}"
                                 f"/instances/{r.sop_instance_uid}"),
        } for r in ok]}
    if failed:
        body["00081198"] = {"vr": "SQ", "Value": [{
            "00081150": el("UI", r.sop_class_uid),
            "00081155": el("UI", r.sop_instance_uid),
            "00081197": el("US", FAILURE_CODES.get(r.rule, 0xC000)),
            "00000902": el("LO", f"{r.name}: {r.rule}: {r.reason}"[:200]),
        } for r in failed]}
    if not failed:
        return body, 200
    if ok:
        return body, 202
    statuses = {r.http_status for r in failed}
    return body, statuses.pop() if len(statuses) == 1 else 409
