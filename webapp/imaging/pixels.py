"""Pixel access for WADO-RS: raw frames (a seek + read for native files, pydicom decoders for
compressed ones), stored-syntax frames, transcoding to Explicit VR Little Endian, rendered images."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian, ExplicitVRLittleEndian

from webapp.core.errors import DomainError, NotFound, ValidationFailed
from webapp.core.storage import get_storage

from .dicom import NATIVE_LE
from .models import Instance

# Media types of compressed frames (PS3.18 table 8.7.3-5).
FRAME_MEDIA_TYPES = {
    "1.2.840.10008.1.2.4.50": "image/jpeg", "1.2.840.10008.1.2.4.51": "image/jpeg",
    "1.2.840.10008.1.2.4.57": "image/jpeg", "1.2.840.10008.1.2.4.70": "image/jpeg",
    "1.2.840.10008.1.2.4.80": "image/jls", "1.2.840.10008.1.2.4.81": "image/jls",
    "1.2.840.10008.1.2.4.90": "image/jp2", "1.2.840.10008.1.2.4.91": "image/jp2",
    "1.2.840.10008.1.2.4.201": "image/jphc", "1.2.840.10008.1.2.4.202": "image/jphc",
    "1.2.840.10008.1.2.4.203": "image/jphc", "1.2.840.10008.1.2.5": "image/dicom-rle",
}


class NotAcceptable(DomainError):
    status_code = 406
    code = "not_acceptable"


def frame_bytes(inst: Instance) -> int:
    pixels = (inst.rows or 0) * (inst.columns or 0) * inst.samples_per_pixel
    return (pixels + 7) // 8 if inst.bits_allocated == 1 else pixels * (inst.bits_allocated // 8)


def check_frames(inst: Instance, numbers: list[int]) -> None:
    if not inst.rows:
        raise NotFound("instance has no pixel data")
    bad = [n for n in numbers if n < 1 or n > inst.number_of_frames]
    if bad:
        raise NotFound(f"frame {bad[0]} does not exist; the instance has {inst.number_of_frames}")


def read_dataset(inst: Instance) -> Dataset:
    storage = get_storage()
    try:
        with storage.open(inst.storage_key) as f:
            data = f.read()
    except FileNotFoundError:
        raise NotFound("the stored file is missing") from None
    return pydicom.dcmread(io.BytesIO(data))


def read_stored(inst: Instance) -> bytes:
    try:
        return get_storage().read(inst.storage_key)
    except FileNotFoundError:
        raise NotFound("the stored file is missing") from None


def raw_frames(inst: Instance, numbers: list[int]) -> Iterator[bytes]:
    """Uncompressed little-endian frame bytes (what `application/octet-stream` frames are)."""
    size = frame_bytes(inst)
    if inst.pixel_offset is not None and inst.transfer_syntax_uid in NATIVE_LE and inst.bits_allocated != 1:
        try:
            f = get_storage().open(inst.storage_key)
        except FileNotFoundError:
            raise NotFound("the stored file is missing") from None
        with f:
            for n in numbers:
                f.seek(inst.pixel_offset + (n - 1) * size)
                yield f.read(size)
        return
    arr = decoded_array(read_dataset(inst))
    if inst.number_of_frames == 1:
        arr = arr[None, ...]
    for n in numbers:
        yield np.ascontiguousarray(arr[n - 1]).astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()


def decoded_array(ds: Dataset) -> np.ndarray[Any, Any]:
    try:
        return ds.pixel_array  # stored values in the stored colour space: what frames return
    except Exception as exc:  # noqa: BLE001 - decoder failures of any kind are a 406, not a 500
        raise NotAcceptable(f"pixel data cannot be decoded: {type(exc).__name__}: {exc}"[:300]) from None


def stored_frames(inst: Instance, numbers: list[int]) -> Iterator[bytes]:
    """Frames in the stored (compressed) transfer syntax, one codestream each."""
    ds = read_dataset(inst)
    frames = list(generate_frames(ds.PixelData, number_of_frames=inst.number_of_frames))
    for n in numbers:
        yield frames[n - 1]


def as_explicit_le(inst: Instance) -> bytes:
    """The instance transcoded to Explicit VR Little Endian (stored bytes when already so)."""
    ts = inst.transfer_syntax_uid
    if ts == ExplicitVRLittleEndian:
        return read_stored(inst)
    ds = read_dataset(inst)  # implicit VR and deflated datasets need no pixel work: pydicom read them
    if "PixelData" in ds and ts == ExplicitVRBigEndian:
        arr = decoded_array(ds)
        ds.PixelData = np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes()
    elif "PixelData" in ds and ts not in NATIVE_LE | {DeflatedExplicitVRLittleEndian}:
        try:
            ds.decompress(generate_instance_uid=False)  # same instance, other encoding: same SOP UID
        except Exception as exc:  # noqa: BLE001
            raise NotAcceptable(f"cannot transcode to Explicit VR Little Endian: {exc}"[:300]) from None
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    buf = io.BytesIO()
    pydicom.dcmwrite(buf, ds, enforce_file_format=True)  # encoded as the (new) transfer syntax says
    return buf.getvalue()


def render(inst: Instance, *, frame: int, window: str | None, media_type: str, quality: int = 90) -> bytes:
    """An 8-bit PNG/JPEG of one frame; window `center,width` (else the file's, else min/max)."""
    from PIL import Image

    check_frames(inst, [frame])
    ds = read_dataset(inst)
    arr = decoded_array(ds)
    if inst.number_of_frames > 1:
        arr = arr[frame - 1]
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
    if arr.ndim == 3 and arr.shape[-1] in (3, 4):
        # pydicom's decoders already return YBR_FULL/YBR_FULL_422/YBR_ICT/YBR_RCT as RGB (as_rgb):
        # converting again here would shift every colour.
        img = Image.fromarray(np.clip(arr[..., :3], 0, 255).astype(np.uint8), "RGB")
    else:
        values = arr.astype(np.float32) * float(ds.get("RescaleSlope", 1) or 1) + float(
            ds.get("RescaleIntercept", 0) or 0)
        center, width = _window(ds, window, values)
        low = center - width / 2
        out = np.clip((values - low) / max(width, 1e-6) * 255.0, 0, 255)
        if photometric == "MONOCHROME1":
            out = 255 - out
        img = Image.fromarray(out.astype(np.uint8), "L")
    buf = io.BytesIO()
    if media_type == "image/jpeg":
        img.save(buf, "JPEG", quality=quality)
    else:
        img.save(buf, "PNG", compress_level=1)
    return buf.getvalue()


def _window(ds: Dataset, window: str | None, values: np.ndarray[Any, Any]) -> tuple[float, float]:
    if window:
        parts = window.split(",")
        try:
            center, width = float(parts[0]), float(parts[1])
        except (ValueError, IndexError):
            raise ValidationFailed("window must be center,width[,function]") from None
        if width <= 0:
            raise ValidationFailed("window width must be positive")
        return center, width
    wc, ww = ds.get("WindowCenter"), ds.get("WindowWidth")
    try:
        if wc is not None and ww is not None:
            c = float(wc[0] if hasattr(wc, "__len__") and not isinstance(wc, str) else wc)
            w = float(ww[0] if hasattr(ww, "__len__") and not isinstance(ww, str) else ww)
            if w > 0:
                return c, w
    except (TypeError, ValueError):
        pass
    lo, hi = float(values.min()), float(values.max())
    return (lo + hi) / 2, max(hi - lo, 1.0)
