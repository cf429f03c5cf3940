"""DICOM parsing and validation for ingest: header first, pixels never decoded here.

Every refusal is a `Refused(rule, reason)`; the ingest service turns it into a quarantine row and a
4xx. Nothing here touches the database or storage.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import math
import re
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

import pydicom
from pydicom import config as pydicom_config
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.filereader import _read_file_meta_info
from pydicom.tag import Tag
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

# Bad values (e.g. "abc" in a DS) must not raise mid-parse; we validate what we use ourselves.
pydicom_config.settings.reading_validation_mode = pydicom_config.IGNORE

NATIVE_LE = {ExplicitVRLittleEndian, ImplicitVRLittleEndian}
SUPPORTED_TRANSFER_SYNTAXES = {
    ImplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    "1.2.840.10008.1.2.4.50",  # JPEG baseline 8 bit
    "1.2.840.10008.1.2.4.51",  # JPEG extended 12 bit
    "1.2.840.10008.1.2.4.57",  # JPEG lossless
    "1.2.840.10008.1.2.4.70",  # JPEG lossless SV1
    "1.2.840.10008.1.2.4.80",  # JPEG-LS lossless
    "1.2.840.10008.1.2.4.81",  # JPEG-LS near lossless
    "1.2.840.10008.1.2.4.90",  # JPEG 2000 lossless
    "1.2.840.10008.1.2.4.91",  # JPEG 2000
    "1.2.840.10008.1.2.4.201",  # HTJ2K lossless
    "1.2.840.10008.1.2.4.202",  # HTJ2K lossless RPCL
    "1.2.840.10008.1.2.4.203",  # HTJ2K
    "1.2.840.10008.1.2.5",  # RLE lossless
}
UID_RE = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")
PIXEL_DATA = 0x7FE00010
# Placeholder for the instance's DICOMweb URL inside cached metadata (roots and hosts differ).
INSTANCE_URL = "@@INSTANCE_URL@@"


# STOW-RS FailureReason values (PS3.18 Table 10.5.3-1; the DICOM status codes of PS3.4/PS3.7).
OUT_OF_RESOURCES = 0xA700
DOES_NOT_MATCH_SOP_CLASS = 0xA900
CANNOT_UNDERSTAND = 0xC000
PROCESSING_FAILURE = 0x0110
DUPLICATE_SOP_INSTANCE = 0x0111
SOP_CLASS_NOT_SUPPORTED = 0x0122
TRANSFER_SYNTAX_NOT_SUPPORTED = 0xC122
FAILURE_REASONS = {
    "not_dicom": CANNOT_UNDERSTAND, "truncated": CANNOT_UNDERSTAND, "unreadable": CANNOT_UNDERSTAND,
    "interrupted": CANNOT_UNDERSTAND, "media_type": CANNOT_UNDERSTAND, "zip_unsafe_path": CANNOT_UNDERSTAND,
    "zip_symlink": CANNOT_UNDERSTAND, "missing_uid": DOES_NOT_MATCH_SOP_CLASS, "invalid_uid": DOES_NOT_MATCH_SOP_CLASS,
    "invalid_value": DOES_NOT_MATCH_SOP_CLASS, "dimensions": DOES_NOT_MATCH_SOP_CLASS,
    "pixel_data_short": DOES_NOT_MATCH_SOP_CLASS, "geometry": DOES_NOT_MATCH_SOP_CLASS,
    "study_mismatch": DOES_NOT_MATCH_SOP_CLASS, "too_large": OUT_OF_RESOURCES, "zip_bomb": OUT_OF_RESOURCES,
    "sop_class": SOP_CLASS_NOT_SUPPORTED, "transfer_syntax": TRANSFER_SYNTAX_NOT_SUPPORTED,
    "conflict": DUPLICATE_SOP_INSTANCE, "other_project": PROCESSING_FAILURE,
    "series_study_mismatch": PROCESSING_FAILURE,
}


class Refused(Exception):
    """A file we will not store: `rule` is a stable code, `reason` a readable sentence, `failure` the
    STOW-RS FailureReason (by rule unless given), and the instance's UIDs when they are known."""

    def __init__(self, rule: str, reason: str, *, status: int = 400, failure: int | None = None,
                 sop_class_uid: str = "", sop_instance_uid: str = "") -> None:
        super().__init__(reason)
        self.rule = rule
        self.reason = reason
        self.status = status
        self.failure = failure if failure is not None else FAILURE_REASONS.get(rule, CANNOT_UNDERSTAND)
        self.sop_class_uid = sop_class_uid
        self.sop_instance_uid = sop_instance_uid

    def of(self, *, sop_class_uid: str, sop_instance_uid: str) -> Refused:
        """The same refusal, naming one instance (refusals of a whole study are shared)."""
        return Refused(self.rule, self.reason, status=self.status, failure=self.failure,
                       sop_class_uid=sop_class_uid, sop_instance_uid=sop_instance_uid)


@dataclass
class Parsed:
    data: bytes
    sha256: str
    ds: Dataset
    transfer_syntax_uid: str
    sop_class_uid: str
    sop_instance_uid: str
    study_instance_uid: str
    series_instance_uid: str
    modality: str
    rows: int | None = None
    columns: int | None = None
    frames: int = 1
    samples_per_pixel: int = 1
    bits_allocated: int = 16
    pixel_offset: int | None = None
    pixel_length: int | None = None
    header: dict[str, Any] | None = None  # DICOM JSON of the raw header, built before any value access
    image_position: list[float] | None = None
    orientation: list[float] | None = None
    pixel_spacing: list[float] | None = None
    slice_position: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


Source = Dataset | dict[str, Any]  # a pydicom dataset or its DICOM JSON (`header_json`)


@functools.lru_cache(maxsize=256)
def _json_key(keyword: str) -> str:
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise KeyError(keyword)
    return f"{tag:08X}"


def _get(src: Source, keyword: str) -> Any:
    """Value of `keyword`: None when absent or empty, a list when multi-valued."""
    if not isinstance(src, dict):
        return src.get(keyword)
    item = src.get(_json_key(keyword))
    values = item.get("Value") if item else None
    if not values:
        return None
    if item is not None and item.get("vr") == "PN":
        values = ["=".join(v.get(k, "") for k in ("Alphabetic", "Ideographic", "Phonetic") if k in v)
                  if isinstance(v, dict) else v for v in values]
    return values[0] if len(values) == 1 else list(values)


def _text(ds: Source, keyword: str, limit: int = 64) -> str:
    value = _get(ds, keyword)
    if value is None:
        return ""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        value = "\\".join("" if v is None else str(v) for v in value)
    return str(value).strip()[:limit]


def _int(ds: Source, keyword: str) -> int | None:
    value = _get(ds, keyword)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Refused("invalid_value", f"{keyword} is not an integer: {str(value)[:40]!r}") from None


def _floats(ds: Source, keyword: str, n: int) -> list[float] | None:
    value = _get(ds, keyword)
    if value is None or value == "":
        return None
    try:
        values = [float(v) for v in (value if isinstance(value, (list, tuple)) or hasattr(value, "__iter__")
                                      and not isinstance(value, str) else [value])]
    except (TypeError, ValueError):
        raise Refused("geometry", f"{keyword} is not numeric: {str(value)[:60]!r}") from None
    if len(values) != n:
        raise Refused("geometry", f"{keyword} has {len(values)} values, expected {n}")
    if not all(math.isfinite(v) for v in values):
        raise Refused("geometry", f"{keyword} contains NaN or infinity")
    return values


def check_uid(value: str, keyword: str) -> str:
    if not value:
        raise Refused("missing_uid", f"{keyword} is missing")
    if len(value) > 64 or not UID_RE.match(value):
        raise Refused("invalid_uid", f"{keyword} is not a valid UID: {value[:80]!r}")
    return value


def is_storage_class(uid: str) -> bool:
    from pynetdicom.service_class import StorageServiceClass
    from pynetdicom.sop_class import uid_to_service_class

    return issubclass(uid_to_service_class(uid), StorageServiceClass)


def _transfer_syntax_from_meta(data: bytes) -> tuple[str, int]:
    """(transfer syntax, offset of the dataset after the file meta) without a full parse: a walk
    over the group 0002 elements (always explicit VR little endian); anything unusual is left to
    pydicom's reader."""
    pos, ts = 132, None
    while pos + 8 <= len(data):
        group, elem = struct.unpack_from("<HH", data, pos)
        if group != 2:
            break
        vr = data[pos + 4:pos + 6]
        if not (vr.isalpha() and vr.isupper()):
            return _transfer_syntax_from_meta_pydicom(data)
        if vr in LONG_VRS:
            if pos + 12 > len(data):
                break
            length, start = struct.unpack_from("<I", data, pos + 8)[0], pos + 12
        else:
            length, start = struct.unpack_from("<H", data, pos + 6)[0], pos + 8
        if length == 0xFFFFFFFF or start + length > len(data):
            return _transfer_syntax_from_meta_pydicom(data)
        if elem == 0x0010:
            ts = data[start:start + length].decode("latin-1").strip("\x00 ")
        pos = start + length
    if ts is None:
        return _transfer_syntax_from_meta_pydicom(data)
    return ts, pos


def _transfer_syntax_from_meta_pydicom(data: bytes) -> tuple[str, int]:
    fp = io.BytesIO(data)
    fp.seek(132)
    try:
        meta = _read_file_meta_info(fp)
        ts = str(meta.get("TransferSyntaxUID", "")).strip()
        group_length = meta.get("FileMetaInformationGroupLength")
        end = 132 + 12 + int(group_length) if group_length is not None else fp.tell()
    except Exception as exc:  # noqa: BLE001 - any failure here means an unreadable header
        raise Refused("truncated", f"file meta information is unreadable: {exc}"[:300]) from None
    return ts, end


def _check_inflated_size(data: bytes, start: int, limit: int) -> None:
    """Deflated datasets are inflated by pydicom in one go: refuse bombs before that happens."""
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data[start:], limit)
    except zlib.error:
        raise Refused("truncated", "deflated dataset is corrupt") from None
    if inflater.unconsumed_tail:
        raise Refused("dimensions", f"deflated dataset inflates beyond {limit} bytes", failure=OUT_OF_RESOURCES)
    del out


def parse(data: bytes, *, max_bytes: int, max_decoded_bytes: int) -> Parsed:
    """Validate one Part 10 file (bytes as received) and extract what the catalog indexes."""
    if len(data) > max_bytes:
        raise Refused("too_large", f"file is {len(data)} bytes; the limit is {max_bytes}", status=413)
    if len(data) < 132 or data[128:132] != b"DICM":
        raise Refused("not_dicom", "not a DICOM Part 10 file (no DICM prefix)")
    ts, meta_end = _transfer_syntax_from_meta(data)
    if not ts:
        raise Refused("missing_uid", "TransferSyntaxUID is missing from the file meta information")
    if ts not in SUPPORTED_TRANSFER_SYNTAXES:
        raise Refused("transfer_syntax", f"transfer syntax {ts[:64]} is not supported")
    if ts == DeflatedExplicitVRLittleEndian:
        _check_inflated_size(data, meta_end, max_bytes)
    buf = io.BytesIO(data)
    try:
        # Header only; pixel data is located by hand below (never read, never decoded).
        deflated = ts == DeflatedExplicitVRLittleEndian
        ds = pydicom.dcmread(buf, stop_before_pixels=not deflated)
        pixel_at = buf.tell()
    except InvalidDicomError as exc:
        raise Refused("not_dicom", f"not DICOM: {exc}"[:300]) from None
    except (EOFError, struct.error, OSError) as exc:
        raise Refused("truncated", f"file is truncated or corrupt: {exc}"[:300]) from None
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types on garbage
        raise Refused("unreadable", f"DICOM header could not be parsed: {type(exc).__name__}: {exc}"[:300]) from None
    header: dict[str, Any] = {}
    try:
        header = header_json(ds)
        return _extract(data, ds, header, ts, pixel_at=pixel_at, max_decoded_bytes=max_decoded_bytes)
    except Refused as exc:
        _name_instance(exc, header)
        raise
    except Exception as exc:  # noqa: BLE001 - a malformed element we did not anticipate
        refused = Refused("unreadable", f"DICOM header has an invalid value: {type(exc).__name__}: {exc}"[:300])
        _name_instance(refused, header)
        raise refused from None


def _name_instance(exc: Refused, header: dict[str, Any]) -> None:
    """Attach the SOP class/instance UIDs of a refused file when they are valid UIDs (for STOW's
    FailedSOPSequence); never echo an invalid value."""
    for keyword, attr in (("SOPClassUID", "sop_class_uid"), ("SOPInstanceUID", "sop_instance_uid")):
        try:
            value = _text(header, keyword, 100)
        except Refused:
            continue
        if value and len(value) <= 64 and UID_RE.match(value) and not getattr(exc, attr):
            setattr(exc, attr, value)


LONG_VRS = {b"OB", b"OW", b"OF", b"OD", b"OL", b"OV", b"SQ", b"UT", b"UN", b"UC", b"UR", b"SV", b"UV"}


def _pixel_element(data: bytes, pos: int, ts: str) -> tuple[int, int] | None:
    """(value offset, length) of the Pixel Data element starting at `pos`; None if it is not there."""
    if pos + 8 > len(data):
        if pos < len(data):
            raise Refused("truncated", "file ends inside the pixel data element header")
        return None
    endian = ">" if ts == ExplicitVRBigEndian else "<"
    group, elem = struct.unpack(endian + "HH", data[pos:pos + 4])
    if (group << 16 | elem) != PIXEL_DATA:
        return None
    if ts == ImplicitVRLittleEndian:
        return pos + 8, struct.unpack("<I", data[pos + 4:pos + 8])[0]
    vr = data[pos + 4:pos + 6]
    if vr in LONG_VRS:
        if pos + 12 > len(data):
            raise Refused("truncated", "file ends inside the pixel data element header")
        return pos + 12, struct.unpack(endian + "I", data[pos + 8:pos + 12])[0]
    return pos + 8, struct.unpack(endian + "H", data[pos + 6:pos + 8])[0]


def _extract(data: bytes, ds: Dataset, h: dict[str, Any], ts: str, *, pixel_at: int,
             max_decoded_bytes: int) -> Parsed:
    """Checks and catalog fields, read from the header JSON `h` (values converted once)."""
    study = check_uid(_text(h, "StudyInstanceUID", 100), "StudyInstanceUID")
    series = check_uid(_text(h, "SeriesInstanceUID", 100), "SeriesInstanceUID")
    sop = check_uid(_text(h, "SOPInstanceUID", 100), "SOPInstanceUID")
    sop_class = check_uid(_text(h, "SOPClassUID", 100), "SOPClassUID")
    if not is_storage_class(sop_class):
        raise Refused("sop_class", f"SOP class {sop_class} is not a storage SOP class")
    parsed = Parsed(
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        ds=ds,
        transfer_syntax_uid=ts,
        sop_class_uid=sop_class,
        sop_instance_uid=sop,
        study_instance_uid=study,
        series_instance_uid=series,
        modality=_text(h, "Modality", 16) or "OT",
        header=h,
    )
    if ts == DeflatedExplicitVRLittleEndian:
        if "PixelData" in ds:
            elem = ds.get_item(PIXEL_DATA)
            length = getattr(elem, "length", None)
            if length is None:
                length = 0xFFFFFFFF if getattr(elem, "is_undefined_length", False) else len(ds.PixelData)
            _check_pixels(parsed, h, length=length, tell=None, ts=ts, max_decoded_bytes=max_decoded_bytes)
            del ds.PixelData
    else:
        located = _pixel_element(data, pixel_at, ts)
        if located is not None:
            tell, length = located
            _check_pixels(parsed, h, length=length, tell=tell, ts=ts, max_decoded_bytes=max_decoded_bytes)
    _check_geometry(parsed, h)
    return parsed


def _check_pixels(parsed: Parsed, ds: Source, *, length: int, tell: int | None, ts: str,
                  max_decoded_bytes: int) -> None:
    rows, cols = _int(ds, "Rows"), _int(ds, "Columns")
    if not rows or not cols:
        raise Refused("dimensions", "pixel data without Rows/Columns")
    frames = _int(ds, "NumberOfFrames") or 1
    spp = _int(ds, "SamplesPerPixel") or 1
    bits = _int(ds, "BitsAllocated") or 16
    if frames < 1 or spp not in (1, 3, 4) or bits not in (1, 8, 16, 32, 64):
        raise Refused("dimensions", f"implausible pixel description: frames={frames} spp={spp} bits={bits}")
    pixels = rows * cols * spp * frames
    expected = (pixels + 7) // 8 if bits == 1 else pixels * (bits // 8)
    # Bounded memory: a header may promise gigabytes that decoders would then allocate.
    if expected > max_decoded_bytes:
        raise Refused("dimensions", f"declared image size {rows}x{cols}x{frames} ({expected} bytes) exceeds the "
                                    f"limit of {max_decoded_bytes} bytes", failure=OUT_OF_RESOURCES)
    parsed.rows, parsed.columns, parsed.frames = rows, cols, frames
    parsed.samples_per_pixel, parsed.bits_allocated = spp, bits
    encapsulated = length == 0xFFFFFFFF
    native = ts in NATIVE_LE | {ExplicitVRBigEndian, DeflatedExplicitVRLittleEndian}
    if native and encapsulated:
        raise Refused("transfer_syntax", "encapsulated pixel data in a native transfer syntax")
    if not native and not encapsulated:
        raise Refused("transfer_syntax", "native pixel data in a compressed transfer syntax")
    if encapsulated:
        if tell is not None and tell + 8 > len(parsed.data):
            raise Refused("truncated", "file ends before the first pixel data item")
        return
    if tell is not None and tell + length > len(parsed.data):
        raise Refused("truncated", f"pixel data is cut off: {len(parsed.data) - tell} of {length} bytes present")
    if length < expected:
        raise Refused("pixel_data_short", f"pixel data has {length} bytes; {rows}x{cols}x{frames} "
                                          f"at {bits} bits needs {expected}")
    if ts in NATIVE_LE and tell is not None:
        parsed.pixel_offset, parsed.pixel_length = tell, length


def _check_geometry(parsed: Parsed, ds: Source) -> None:
    iop = _floats(ds, "ImageOrientationPatient", 6)
    ipp = _floats(ds, "ImagePositionPatient", 3)
    spacing = _floats(ds, "PixelSpacing", 2)
    if spacing is not None and min(spacing) <= 0:
        raise Refused("geometry", f"PixelSpacing must be positive, got {spacing}")
    thickness = _get(ds, "SliceThickness")
    if thickness not in (None, ""):
        try:
            t = float(thickness)
        except (TypeError, ValueError):
            raise Refused("geometry", "SliceThickness is not numeric") from None
        if not math.isfinite(t) or t < 0:
            raise Refused("geometry", f"SliceThickness must be a finite non-negative number, got {thickness}")
    if iop is not None:
        r, c = iop[:3], iop[3:]
        nr, nc = math.sqrt(sum(v * v for v in r)), math.sqrt(sum(v * v for v in c))
        if abs(nr - 1) > 1e-2 or abs(nc - 1) > 1e-2:
            raise Refused("geometry", f"ImageOrientationPatient vectors are not unit length: {iop}")
        if abs(sum(a * b for a, b in zip(r, c, strict=True))) > 1e-2:
            raise Refused("geometry", f"ImageOrientationPatient vectors are not orthogonal: {iop}")
        parsed.orientation = iop
        if ipp is not None:
            n = normal(iop)
            parsed.slice_position = sum(a * b for a, b in zip(n, ipp, strict=True))
    parsed.image_position = ipp
    parsed.pixel_spacing = spacing


def normal(iop: list[float]) -> list[float]:
    r, c = iop[:3], iop[3:]
    return [r[1] * c[2] - r[2] * c[1], r[2] * c[0] - r[0] * c[2], r[0] * c[1] - r[1] * c[0]]


# DICOM JSON straight from the raw elements pydicom read (no per-element DataElement conversion,
# which was ~30 % of ingest time); anything unusual (sequences, ambiguous VRs, other character sets,
# undecodable values) goes through pydicom's own `to_json_dict`.
BULK_THRESHOLD = 4096
_STRUCT = {"US": "H", "SS": "h", "UL": "I", "SL": "i", "FL": "f", "FD": "d", "SV": "q", "UV": "Q"}
_BYTES_VRS = {"OB", "OW", "OF", "OD", "OL", "OV", "UN"}
_CHARSET_VRS = {"SH", "LO", "ST", "LT", "UT", "UC", "PN"}
_SINGLE_VRS = {"LT", "ST", "UT", "UR"}
_STR_VRS = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UR", "UT"}
_SIMPLE_CHARSETS = {"": "latin-1", "ISO_IR 6": "latin-1", "ISO_IR 100": "latin-1", "ISO_IR 192": "utf-8"}


def _bulk(_elem: Any) -> str:
    return INSTANCE_URL


def _number(text: str, vr: str) -> Any:
    try:
        if vr == "IS":
            return int(text) if text.lstrip("+-").isdigit() else int(float(text))
        return float(text)
    except ValueError:
        return text  # invalid number: kept as received (validation is not the metadata's job)


def _fast_element(raw: RawDataElement, vr: str, text_encoding: str | None) -> dict[str, Any] | None:
    """DICOM JSON of one raw element, or None when pydicom should do it."""
    if vr not in _STR_VRS and vr not in _STRUCT and vr not in ("AT", "OB", "OW", "OF", "OD", "OL", "OV"):
        return None  # SQ, UN (pydicom knows the real VR), ambiguous VRs
    value = raw.value or b""
    out: dict[str, Any] = {"vr": vr}
    if not value:
        return out
    if vr in _STR_VRS:
        encoding = text_encoding if vr in _CHARSET_VRS else "latin-1"
        if encoding is None:
            return None
        try:
            text = value.decode(encoding)
        except UnicodeDecodeError:
            return None
        text = text.rstrip("\x00 ") if vr in _SINGLE_VRS or vr == "UI" else text.strip("\x00 ")
        if not text:
            return out
        items = [text] if vr in _SINGLE_VRS else text.split("\\")
        if vr == "PN":
            names = []
            for item in items:
                groups = item.split("=")
                comps: dict[str, str] = {"Alphabetic": groups[0]}
                if len(groups) > 1:
                    comps["Ideographic"] = groups[1]
                if len(groups) > 2:
                    comps["Phonetic"] = groups[2]
                names.append(comps)
            out["Value"] = names
        elif vr in ("IS", "DS"):
            out["Value"] = [_number(v.strip(), vr) if v.strip() else None for v in items]
        else:
            out["Value"] = items
        return out
    if vr in _STRUCT or vr == "AT":
        fmt = "H" if vr == "AT" else _STRUCT[vr]
        size = struct.calcsize(fmt)
        if len(value) % size:
            return None
        values = struct.unpack(("<" if raw.is_little_endian else ">") + fmt * (len(value) // size), value)
        if vr == "AT":
            out["Value"] = [f"{values[k]:04X}{values[k + 1]:04X}" for k in range(0, len(values) - 1, 2)]
        elif vr in ("FL", "FD") and not all(math.isfinite(v) for v in values):
            return None
        else:
            out["Value"] = list(values)
        return out
    if vr in _BYTES_VRS:
        if len(value) > (BULK_THRESHOLD // 4) * 3:
            out["BulkDataURI"] = INSTANCE_URL
        else:
            import base64

            out["InlineBinary"] = base64.b64encode(value).decode()
        return out
    return None


def header_json(ds: Dataset) -> dict[str, Any]:
    """DICOM JSON (PS3.18 F.2) of every element before the pixel data; bulk values by URI."""
    charset = ds._dict.get(Tag(0x00080005))
    text_encoding: str | None = "latin-1"
    if charset is not None:
        if isinstance(charset, RawDataElement):
            cs = (charset.value or b"").decode("latin-1").strip("\x00 ")
        else:
            cs = str(charset.value or "")
        text_encoding = _SIMPLE_CHARSETS.get(cs)  # None: other/multiple charsets → pydicom decodes
    body: dict[str, Any] = {}
    for tag, raw in ds._dict.items():
        if tag >> 16 >= 0x7FE0:  # (BaseTag's own comparison operators are slow Python code)
            continue
        item: dict[str, Any] | None = None
        if isinstance(raw, RawDataElement):
            vr = raw.VR
            if vr is None:
                try:
                    vr = dictionary_VR(tag) if not (tag >> 16) % 2 else "UN"
                except KeyError:
                    vr = "UN"
            item = _fast_element(raw, str(vr), text_encoding)
        if item is None:
            try:
                item = ds[tag].to_json_dict(_bulk, BULK_THRESHOLD)
            except Exception:  # noqa: BLE001, S112 - an element pydicom cannot convert is left out of the metadata
                continue
        body[f"{tag:08X}"] = item
    return body


def metadata_json(p: Parsed) -> str:
    """DICOM JSON of the header; pixel data and other bulk values become BulkDataURIs."""
    body = dict(p.header) if p.header is not None else header_json(p.ds)
    if p.rows:
        frame_list = ",".join(str(i) for i in range(1, p.frames + 1)) if p.frames <= 1000 else "1"
        native = p.transfer_syntax_uid in NATIVE_LE | {ExplicitVRBigEndian, DeflatedExplicitVRLittleEndian}
        vr = "OW" if native and p.bits_allocated > 8 else "OB"
        body["7FE00010"] = {"vr": vr, "BulkDataURI": f"{INSTANCE_URL}/frames/{frame_list}"}
    return json.dumps(body, separators=(",", ":"), sort_keys=True)
