"""DICOM JSON (PS3.18 F.2) of catalog rows for QIDO-RS, and the STOW-RS response dataset."""

from __future__ import annotations

import json
from typing import Any

from django.db.models import QuerySet
from pydicom.datadict import dictionary_VR, tag_for_keyword

from ..dicom import CANNOT_UNDERSTAND, FAILURE_REASONS
from ..models import Instance, Series, Study
from ..services import PRESENT, REFUSED, STORED, IngestReport


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def el(vr: str, *values: Any) -> dict[str, Any]:
    vals = [v for v in values if v not in (None, "")]
    if not vals:
        return {"vr": vr}
    if vr == "PN":
        return {"vr": vr, "Value": [{"Alphabetic": str(v)} for v in vals]}
    return {"vr": vr, "Value": list(vals)}


CHARSET: dict[str, Any] = {"vr": "CS", "Value": ["ISO_IR 192"]}


def _date(value: Any) -> str | None:
    return value.strftime("%Y%m%d") if value else None


def study(row: Study, *, root: str) -> dict[str, Any]:
    p = row.patient
    return _study(row.study_date, row.study_time, row.accession_number, row.modalities, row.referring_physician,
                  row.description, row.study_instance_uid, p.name, p.patient_id, p.birth_date, p.sex, row.study_id,
                  row.num_series, row.num_instances, root=root)


STUDY_FIELDS = ("id", "study_date", "study_time", "accession_number", "modalities", "referring_physician",
                "description", "study_instance_uid", "patient__name", "patient__patient_id", "patient__birth_date",
                "patient__sex", "study_id", "num_series", "num_instances")


def studies(rows: QuerySet[Study], *, root: str) -> tuple[list[dict[str, Any]], list[int]]:
    """QIDO study results straight from value tuples (no model instances: 1,000 rows in a few ms)."""
    items: list[dict[str, Any]] = []
    pks: list[int] = []
    for pk, *values in rows.values_list(*STUDY_FIELDS):
        items.append(_study(*values, root=root))
        pks.append(pk)
    return items, pks


def _one(vr: str, value: Any) -> dict[str, Any]:
    return {"vr": vr} if value is None or value == "" else {"vr": vr, "Value": [value]}


def _pn(value: str) -> dict[str, Any]:
    return {"vr": "PN", "Value": [{"Alphabetic": value}]} if value else {"vr": "PN"}


def _study(study_date: Any, study_time: str, accession: str, modalities: str, referring: str, description: str,
           uid: str, patient_name: str, patient_id: str, birth_date: str, sex: str, study_id: str, num_series: int,
           num_instances: int, *, root: str) -> dict[str, Any]:
    mods = [m for m in modalities.split("\\") if m]
    return {
        "00080005": CHARSET,
        "00080020": _one("DA", _date(study_date)),
        "00080030": _one("TM", study_time),
        "00080050": _one("SH", accession),
        "00080061": {"vr": "CS", "Value": mods} if mods else {"vr": "CS"},
        "00080090": _pn(referring),
        "00081030": _one("LO", description),
        "00081190": {"vr": "UR", "Value": [f"{root}/studies/{uid}"]},
        "00100010": _pn(patient_name),
        "00100020": _one("LO", patient_id),
        "00100030": _one("DA", birth_date),
        "00100040": _one("CS", sex),
        "0020000D": {"vr": "UI", "Value": [uid]},
        "00200010": _one("SH", study_id),
        "00201206": _one("IS", num_series),
        "00201208": _one("IS", num_instances),
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


def add_includes(items: list[dict[str, Any]], kind: str, pks: list[int], includes: set[str]) -> None:
    """`includefield`: extra attributes (or `all`) taken from the cached header of a representative
    instance of each result (one query per result; only when asked). `kind`: study, series, instance."""
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
    lookup = {"study": "series__study_id", "series": "series_id", "instance": "pk"}[kind]
    for item, pk in zip(items, pks, strict=True):
        inst = Instance.objects.filter(**{lookup: pk}).only("metadata").first()
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
            "00081197": el("US", r.failure_reason if r.failure_reason is not None else FAILURE_REASONS.get(
                r.rule, CANNOT_UNDERSTAND)),
            "00000902": el("LO", f"{r.name}: {r.rule}: {r.reason}"[:200]),
        } for r in failed]}
    if not failed:
        return body, 200
    if ok:
        return body, 202
    statuses = {r.http_status for r in failed}
    return body, statuses.pop() if len(statuses) == 1 else 409
