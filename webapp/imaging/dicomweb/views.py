"""DICOMweb (PS3.18): QIDO-RS, WADO-RS and STOW-RS under `/dicomweb/` (read-only union of the user's
projects; STOW for site admins into NODUS_DEFAULT_PROJECT) and `/projects/<slug>/dicomweb/` (one
project). Views parse → call a selector/service → render."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from pydicom.datadict import keyword_for_tag, tag_for_keyword
from pydicom.uid import ExplicitVRLittleEndian

from webapp.core.errors import UnsupportedMedia, ValidationFailed

from .. import pixels, selectors
from ..dicom import INSTANCE_URL
from ..services import IncomingFile, ingest_files, refuse_upload
from . import render
from .http import (
    Interrupted,
    Part,
    dicom_json,
    dicomweb_view,
    iter_multipart,
    json_response,
    multipart_boundary,
    multipart_response,
    parse_accept,
)

MAX_LIMIT = 1000
PAGING = {"limit", "offset", "includefield", "fuzzymatching"}


def _root(request: HttpRequest, project: str | None) -> str:
    return request.build_absolute_uri(f"/projects/{project}/dicomweb" if project else "/dicomweb")


def _scope(request: HttpRequest, project: str | None) -> list[int]:
    return selectors.dicomweb_project_ids(user=request.user, project_slug=project)


def _query(request: HttpRequest) -> tuple[dict[str, str], int, int, set[str]]:
    match: dict[str, str] = {}
    includes: set[str] = set()
    for key, value in request.GET.lists():
        if key in PAGING:
            if key == "includefield":
                for v in value:
                    includes.update(x for x in v.split(",") if x)
            continue
        name = key
        if len(key) == 8 and all(c in "0123456789abcdefABCDEF" for c in key):
            name = keyword_for_tag(int(key, 16)) or key
        if tag_for_keyword(name) is None:
            raise ValidationFailed(f"unknown query attribute {key!r}", attribute=key)
        if value and value[-1] != "":
            match[name] = value[-1]
    try:
        limit = int(request.GET.get("limit", MAX_LIMIT))
        offset = int(request.GET.get("offset", 0))
    except ValueError:
        raise ValidationFailed("limit and offset must be integers") from None
    if limit < 0 or offset < 0:
        raise ValidationFailed("limit and offset must not be negative")
    return match, min(limit, MAX_LIMIT), offset, includes


def _qido(request: HttpRequest, rows: Any, renderer: Any, root: str, includes: set[str], kind: str,
          ) -> HttpResponseBase:
    items = [renderer(r, root=root) for r in rows]
    if includes:
        render.add_includes(items, kind, [r.pk for r in rows], includes)
    return dicom_json(request, items)


# --- QIDO-RS + STOW-RS on /studies -------------------------------------------------------------------


@dicomweb_view({"GET", "POST"})
def studies(request: HttpRequest, project: str | None = None) -> HttpResponseBase:
    if request.method == "POST":
        return _stow(request, project=project, study_uid=None)
    ids = _scope(request, project)
    match, limit, offset, includes = _query(request)
    items, pks = render.studies(selectors.qido_studies(project_ids=ids, match=match)[offset:offset + limit],
                                root=_root(request, project))
    if includes:
        render.add_includes(items, "study", pks, includes)
    return dicom_json(request, items)


@dicomweb_view({"GET"})
def all_series(request: HttpRequest, project: str | None = None, study: str | None = None) -> HttpResponseBase:
    ids = _scope(request, project)
    match, limit, offset, includes = _query(request)
    rows = list(selectors.qido_series(project_ids=ids, study_uid=study, match=match)[offset:offset + limit])
    return _qido(request, rows, render.series, _root(request, project), includes, "series")


@dicomweb_view({"GET"})
def all_instances(request: HttpRequest, project: str | None = None, study: str | None = None,
                  series: str | None = None) -> HttpResponseBase:
    ids = _scope(request, project)
    match, limit, offset, includes = _query(request)
    rows = list(selectors.qido_instances(project_ids=ids, study_uid=study, series_uid=series,
                                         match=match)[offset:offset + limit])
    return _qido(request, rows, render.instance, _root(request, project), includes, "instance")


def _stow(request: HttpRequest, *, project: str | None, study_uid: str | None) -> HttpResponseBase:
    from django.conf import settings

    target = selectors.ingest_project_for(user=request.user, project_slug=project)
    ctype = request.headers.get("Content-Type", "")
    parsed = parse_accept(ctype)
    boundary = multipart_boundary(ctype)
    if not parsed or parsed[0].type != "multipart/related" or not boundary:
        raise UnsupportedMedia('STOW-RS takes multipart/related; type="application/dicom"')
    if parsed[0].params.get("type", "application/dicom").lower() != "application/dicom":
        raise UnsupportedMedia("only application/dicom parts are accepted (no separate bulk data)")
    interrupted: list[bytes] = []
    refused_parts: list[tuple[str, bytes]] = []

    def files() -> Iterator[IncomingFile]:
        try:
            for n, (headers, body) in enumerate(iter_multipart(request, boundary,
                                                               max_part=settings.NODUS_MAX_UPLOAD_BYTES), 1):
                name = headers.get("content-location") or f"part {n}"
                part_type = headers.get("content-type", "application/dicom").split(";")[0].strip().lower()
                if part_type != "application/dicom":
                    refused_parts.append((name, body))
                    continue
                yield IncomingFile(name=name, data=body)
        except Interrupted as exc:
            interrupted.append(exc.partial)

    # prefetch: the body is read and parsed in a worker thread while the previous batch is stored
    # and indexed here; files() touches no database.
    report = ingest_files(project=target, files=files(), actor=request.user, source="stow", batch_size=100,
                          expect_study=study_uid, prefetch=True)
    for name, body in refused_parts:
        report.results.append(refuse_upload(project=target, name=name, data=body, rule="media_type",
                                            reason="part is not application/dicom", actor=request.user,
                                            source="stow", status=415))
    for partial in interrupted:
        report.results.append(refuse_upload(project=target, name="last part", data=partial, rule="interrupted",
                                            reason="upload ended before the part was complete; nothing of it "
                                                   "was indexed", actor=request.user, source="stow"))
    if not report.results:
        raise ValidationFailed(f"the body has no multipart part delimited by boundary {boundary[:70]!r}")
    response, status = render.stow_response(report, root=_root(request, project))
    return json_response(request, render.dumps(response), status=status)


@dicomweb_view({"GET", "POST"})
def study(request: HttpRequest, study: str, project: str | None = None) -> HttpResponseBase:
    if request.method == "POST":
        return _stow(request, project=project, study_uid=study)
    return _retrieve(request, selectors.wado_instances(project_ids=_scope(request, project), study_uid=study))


# --- WADO-RS ---------------------------------------------------------------------------------------------


@dicomweb_view({"GET"})
def series(request: HttpRequest, study: str, series: str, project: str | None = None) -> HttpResponseBase:
    return _retrieve(request, selectors.wado_instances(project_ids=_scope(request, project), study_uid=study,
                                                       series_uid=series))


@dicomweb_view({"GET"})
def instance(request: HttpRequest, study: str, series: str, instance: str, project: str | None = None,
             ) -> HttpResponseBase:
    return _retrieve(request, selectors.wado_instances(project_ids=_scope(request, project), study_uid=study,
                                                       series_uid=series, sop_uid=instance))


def _negotiate_dicom(request: HttpRequest) -> str:
    """Transfer syntax for application/dicom parts: '*' = as stored, default Explicit VR LE."""
    ranges = parse_accept(request.headers.get("Accept", ""))
    if not ranges:
        return ExplicitVRLittleEndian
    for r in ranges:
        inner = r.params.get("type", "application/dicom").lower()
        related = r.type == "multipart/related" and inner in ("application/dicom", "*/*")
        if r.type in ("*/*", "multipart/*") or related:
            return r.params.get("transfer-syntax", ExplicitVRLittleEndian)
        if r.type == "application/dicom":
            return r.params.get("transfer-syntax", ExplicitVRLittleEndian)
    raise pixels.NotAcceptable('instances are served as multipart/related; type="application/dicom"')


def _retrieve(request: HttpRequest, rows: list[Any]) -> HttpResponseBase:
    wanted = _negotiate_dicom(request)
    for inst in rows:
        if wanted not in ("*", inst.transfer_syntax_uid, ExplicitVRLittleEndian):
            raise pixels.NotAcceptable(f"cannot transcode {inst.transfer_syntax_uid} to {wanted}; ask for "
                                       f"{ExplicitVRLittleEndian} or transfer-syntax=*")

    def part(inst: Any) -> Part:
        if wanted in ("*", inst.transfer_syntax_uid):
            return Part(f"application/dicom; transfer-syntax={inst.transfer_syntax_uid}", pixels.read_stored(inst))
        return Part(f"application/dicom; transfer-syntax={ExplicitVRLittleEndian}", pixels.as_explicit_le(inst))

    # The first part is made before the response starts, so a file that cannot be read or
    # transcoded is a 404/406 (for one instance: always), not a stream cut off after a 200.
    first = part(rows[0])

    def parts() -> Iterator[Part]:
        yield first
        for inst in rows[1:]:
            yield part(inst)

    ts = None if wanted == "*" else wanted
    # Not gzip-encoded: instances are mostly pixel data (compressed, if at all, by their transfer
    # syntax), and gzip on a 2-core server made whole-series retrieval CPU-bound (≈ 5x slower).
    return multipart_response(request, parts(), part_type="application/dicom", transfer_syntax=ts, compress=False)


def _metadata(request: HttpRequest, rows: list[Any], project: str | None) -> HttpResponseBase:
    root = _root(request, project)
    chunks = []
    for inst in rows:
        url = f"{root}/studies/{inst.series.study.study_instance_uid}/series/{inst.series.series_instance_uid}" \
              f"/instances/{inst.sop_instance_uid}"
        text = inst.metadata or render.dumps(render.instance(inst, root=root))
        chunks.append(text.replace(INSTANCE_URL, url))
    return json_response(request, "[" + ",".join(chunks) + "]")


@dicomweb_view({"GET"})
def study_metadata(request: HttpRequest, study: str, project: str | None = None) -> HttpResponseBase:
    rows = selectors.wado_instances(project_ids=_scope(request, project), study_uid=study, with_metadata=True)
    return _metadata(request, rows, project)


@dicomweb_view({"GET"})
def series_metadata(request: HttpRequest, study: str, series: str, project: str | None = None) -> HttpResponseBase:
    rows = selectors.wado_instances(project_ids=_scope(request, project), study_uid=study, series_uid=series,
                                    with_metadata=True)
    return _metadata(request, rows, project)


@dicomweb_view({"GET"})
def instance_metadata(request: HttpRequest, study: str, series: str, instance: str, project: str | None = None,
                      ) -> HttpResponseBase:
    rows = selectors.wado_instances(project_ids=_scope(request, project), study_uid=study, series_uid=series,
                                    sop_uid=instance, with_metadata=True)
    return _metadata(request, rows, project)


def _frame_numbers(text: str) -> list[int]:
    try:
        numbers = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ValidationFailed(f"frame list {text[:40]!r} must be comma-separated integers") from None
    if not numbers or len(numbers) > 10000:
        raise ValidationFailed("give between 1 and 10000 frame numbers")
    return numbers


def _frame_range(text: str | None, total: int) -> tuple[int, int]:
    """`a-b` or `a` (1-based, inclusive, within the series' frames) → (a, b); None → all frames."""
    if text is None:
        return 1, total
    m = re.fullmatch(r"\s*(\d{1,9})\s*(?:-\s*(\d{1,9})\s*)?", text)
    if not m:
        raise ValidationFailed(f"frames {text[:40]!r} must be a range a-b of frame numbers (1-based)")
    a = int(m[1])
    b = int(m[2]) if m[2] is not None else a
    if a < 1 or b < a or b > total:
        raise ValidationFailed(f"frames {a}-{b} is not a range within 1-{total}")
    return a, b


def _frames_stored_syntax(request: HttpRequest, inst: Any) -> bool:
    """True when the client asks for frames in the stored (compressed) transfer syntax."""
    for r in parse_accept(request.headers.get("Accept", "")):
        inner = r.params.get("type", "").lower() if r.type == "multipart/related" else r.type
        ts = r.params.get("transfer-syntax", "")
        if ts == "*" or (ts and ts == inst.transfer_syntax_uid):
            return True
        if inner.startswith("image/") and inner == pixels.FRAME_MEDIA_TYPES.get(inst.transfer_syntax_uid):
            return True
        if inner in ("application/octet-stream", "*/*") or r.type == "*/*":
            return False
    return False


@dicomweb_view({"GET"})
def frames(request: HttpRequest, study: str, series: str, instance: str, frames: str,
           project: str | None = None) -> HttpResponseBase:
    inst = selectors.wado_instances(project_ids=_scope(request, project), study_uid=study, series_uid=series,
                                    sop_uid=instance)[0]
    numbers = _frame_numbers(frames)
    pixels.check_frames(inst, numbers)
    media = pixels.FRAME_MEDIA_TYPES.get(inst.transfer_syntax_uid)
    if media and _frames_stored_syntax(request, inst):
        body = list(pixels.stored_frames(inst, numbers))
        return multipart_response(request, [Part(f"{media}; transfer-syntax={inst.transfer_syntax_uid}", b)
                                            for b in body], part_type=media,
                                  transfer_syntax=inst.transfer_syntax_uid)
    data = list(pixels.raw_frames(inst, numbers))
    return multipart_response(request, [Part(f"application/octet-stream; transfer-syntax={ExplicitVRLittleEndian}",
                                             b) for b in data], part_type="application/octet-stream",
                              transfer_syntax=ExplicitVRLittleEndian)


_PROXY_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")


def _loopback_client(request: HttpRequest) -> bool:
    """The client is on this machine (not through a proxy): gzip of pixel streams would only cost.

    Level-1 gzip of CT int16 runs at ≈ 50 MB/s of input a core and saves ≈ 40 %: it pays only on
    links slower than that. Loopback moves the raw 157 MB of a 512×512×300 CT in ≈ 0.5 s where
    gzip took ≈ 3 s of server CPU (and the browser's inflate on top). A request relayed by a proxy
    comes from the proxy's address, so a proxy header keeps gzip on."""
    try:
        local = ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False
    return local and not any(h in request.headers for h in _PROXY_HEADERS)


@dicomweb_view({"GET"})
def pixeldata(request: HttpRequest, study: str, series: str, project: str | None = None) -> HttpResponseBase:
    """Every frame of a series in slice order in ONE response (the viewer's bulk load);
    each part's Content-Location names its instance and frame. `?frames=a-b` (or `a`) limits it to
    the a-th … b-th frame of that order, 1-based and inclusive (parallel range requests).
    gzip-encoded when the client accepts it, except for a client on the loopback interface."""
    rows = [inst for inst in selectors.wado_instances(project_ids=_scope(request, project), study_uid=study,
                                                      series_uid=series) if inst.rows]
    root = _root(request, project)
    total = sum(max(1, inst.number_of_frames or 1) for inst in rows)
    first, last = _frame_range(request.GET.get("frames"), total)

    def parts() -> Iterator[Part]:
        at = 0  # frames of the series before this instance
        for inst in rows:
            count = max(1, inst.number_of_frames or 1)
            lo, hi = max(first, at + 1), min(last, at + count)
            at += count
            if lo > hi:
                if at >= last:
                    return
                continue
            base = f"{root}/studies/{study}/series/{series}/instances/{inst.sop_instance_uid}/frames/"
            numbers = list(range(lo - (at - count), hi - (at - count) + 1))
            for n, body in zip(numbers, pixels.raw_frames(inst, numbers), strict=True):
                yield Part("application/octet-stream", body, location=base + str(n))

    return multipart_response(request, parts(), part_type="application/octet-stream",
                              transfer_syntax=ExplicitVRLittleEndian, compress=not _loopback_client(request))


@dicomweb_view({"GET"})
def rendered(request: HttpRequest, study: str, series: str, instance: str, project: str | None = None,
             ) -> HttpResponseBase:
    inst = selectors.wado_instances(project_ids=_scope(request, project), study_uid=study, series_uid=series,
                                    sop_uid=instance)[0]
    accept = " ".join(r.type for r in parse_accept(request.headers.get("Accept", "")))
    media = "image/jpeg" if "image/jpeg" in accept and "image/png" not in accept else "image/png"
    try:
        frame = int(request.GET.get("frame", 1))
        quality = max(1, min(100, int(request.GET.get("quality", 90))))
    except ValueError:
        raise ValidationFailed("frame and quality must be integers") from None
    body = pixels.render(inst, frame=frame, window=request.GET.get("window"), media_type=media, quality=quality)
    return HttpResponse(body, content_type=media)

