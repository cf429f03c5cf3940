"""Read DICOM series and NIfTI into a `Volume`; write label maps as NIfTI."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError

from .errors import InvalidVolumeError
from .volume import MAX_VOXELS, Volume, check_size

_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def read_dicom_series(paths: Sequence[Path], *, max_voxels: int = MAX_VOXELS) -> Volume:
    """Stack single-frame slices of one series, sorted along the slice normal, in modality units.
    Every file must be a DICOM image of that series (the caller chose them)."""
    if not paths:
        raise InvalidVolumeError("no DICOM files given")
    headers = []
    for p in paths:
        try:
            headers.append((p, pydicom.dcmread(p, stop_before_pixels=True)))
        except (InvalidDicomError, OSError, ValueError) as exc:
            raise InvalidVolumeError(f"{Path(p).name}: not a readable DICOM file ({exc})") from exc
    return _stack(headers, max_voxels)


def _stack(headers: list[tuple[Path, Any]], max_voxels: int) -> Volume:
    try:
        first = headers[0][1]
        iop = np.array([float(v) for v in first.ImageOrientationPatient])
        rows, cols = int(first.Rows), int(first.Columns)
        dy, dx = (float(v) for v in first.PixelSpacing)
    except (AttributeError, ValueError, TypeError) as exc:
        raise InvalidVolumeError(f"missing or malformed geometry tags: {exc}") from exc
    check_size((len(headers), rows, cols), max_voxels)
    col_dir, row_dir = iop[:3], iop[3:]  # x axis runs along a row (columns), y along a column
    normal = np.cross(col_dir, row_dir)
    try:
        keyed = sorted(
            ((float(np.dot(normal, [float(v) for v in h.ImagePositionPatient])), p, h)
             for p, h in headers),
            key=lambda t: t[0],
        )
    except (AttributeError, ValueError, TypeError) as exc:
        raise InvalidVolumeError(f"missing ImagePositionPatient: {exc}") from exc
    positions = np.array([k for k, _, _ in keyed])
    if len(positions) > 1:
        steps = np.diff(positions)
        if np.any(steps <= 1e-6):
            raise InvalidVolumeError("duplicate slice positions in series")
        dz = float(np.median(steps))
    else:
        dz = float(getattr(first, "SliceThickness", 1.0) or 1.0)
    arr = np.empty((len(keyed), rows, cols), dtype=np.float32)
    for i, (_, p, h) in enumerate(keyed):
        if int(h.Rows) != rows or int(h.Columns) != cols:
            raise InvalidVolumeError("slices of different sizes in one series")
        if int(getattr(h, "NumberOfFrames", 1) or 1) > 1:
            raise InvalidVolumeError(f"{Path(p).name}: multi-frame images are not supported")
        if getattr(h, "SeriesInstanceUID", None) != getattr(first, "SeriesInstanceUID", None):
            raise InvalidVolumeError("files from more than one series")
        try:
            px = pydicom.dcmread(p).pixel_array
        except Exception as exc:  # noqa: BLE001 - pixel decoders raise many types
            raise InvalidVolumeError(f"{Path(p).name}: cannot decode pixel data ({exc})") from exc
        ds = h
        slope = float(getattr(ds, "RescaleSlope", 1.0) or 1.0)
        intercept = float(getattr(ds, "RescaleIntercept", 0.0) or 0.0)
        np.multiply(px, slope, out=arr[i], casting="unsafe")
        arr[i] += intercept
    origin = tuple(float(v) for v in keyed[0][2].ImagePositionPatient)
    direction = np.stack([col_dir, row_dir, normal], axis=1)
    return Volume(array=arr, spacing=(dz, dy, dx), origin=(origin[0], origin[1], origin[2]),
                  direction=direction)


DICOMDIR = "1.2.840.10008.1.3.10"  # Media Storage Directory: the index of a CD export


def read_dicom_dir(directory: Path, *, series_uid: str | None = None,
                   max_voxels: int = MAX_VOXELS) -> Volume:
    """The image series in a folder (searched recursively), as DICOM viewers open an export:
    files that are not DICOM, the DICOMDIR index and objects without pixels (reports,
    presentation states) are passed over. A folder with several image series needs
    `series_uid`; the error lists them."""
    series: dict[str, list[tuple[Path, Any]]] = {}
    skipped = 0
    for p in sorted(q for q in Path(directory).rglob("*") if q.is_file()):
        try:
            ds = pydicom.dcmread(p, stop_before_pixels=True)
        except (InvalidDicomError, OSError, ValueError, EOFError):
            skipped += 1
            continue
        sop_class = str(getattr(getattr(ds, "file_meta", None), "MediaStorageSOPClassUID", ""))
        if sop_class == DICOMDIR or "Rows" not in ds:
            skipped += 1
            continue
        series.setdefault(str(getattr(ds, "SeriesInstanceUID", "")), []).append((p, ds))
    if not series:
        raise InvalidVolumeError(f"{directory}: no DICOM images found ({skipped} other files)")
    if series_uid is not None:
        if series_uid not in series:
            raise InvalidVolumeError(f"{directory}: no series {series_uid}; it holds "
                                     f"{_describe(series)}")
        return _stack(series[series_uid], max_voxels)
    if len(series) > 1:
        raise InvalidVolumeError(f"{directory} holds {len(series)} image series, pick one by "
                                 f"its SeriesInstanceUID: {_describe(series)}")
    return _stack(next(iter(series.values())), max_voxels)


def _describe(series: dict[str, list[tuple[Path, Any]]]) -> str:
    parts = []
    for uid, items in series.items():
        ds = items[0][1]
        what = " ".join(str(v) for v in (getattr(ds, "Modality", ""),
                                          getattr(ds, "SeriesDescription", "")) if v)
        parts.append(f"{uid} ({what + ', ' if what else ''}{len(items)} files)")
    return "; ".join(parts)


def read_nifti(path: Path | str, *, max_voxels: int = MAX_VOXELS) -> Volume:
    """Load a 3D NIfTI; its RAS affine is converted to the DICOM LPS convention used here."""
    try:
        img: Any = nib.load(str(path))
    except Exception as exc:  # noqa: BLE001 - nibabel raises many types for bad files
        raise InvalidVolumeError(f"{path}: not a readable NIfTI file ({exc})") from exc
    shape = tuple(int(s) for s in img.shape)
    if len(shape) == 4 and shape[3] == 1:
        shape = shape[:3]
    if len(shape) != 3:
        raise InvalidVolumeError(f"expected a 3D NIfTI, got shape {img.shape}")
    check_size(shape, max_voxels)
    data = np.asarray(img.dataobj, dtype=np.float32).reshape(shape)
    lps = _LPS_TO_RAS @ np.asarray(img.affine, dtype=np.float64)
    zooms = np.linalg.norm(lps[:3, :3], axis=0)
    if np.any(zooms <= 0):
        raise InvalidVolumeError(f"zero spacing in NIfTI affine {zooms}")
    direction = lps[:3, :3] / zooms
    return Volume(
        array=np.ascontiguousarray(data.transpose(2, 1, 0)),
        spacing=(float(zooms[2]), float(zooms[1]), float(zooms[0])),
        origin=(float(lps[0, 3]), float(lps[1, 3]), float(lps[2, 3])),
        direction=direction,
    )


def read_volume(path: Path | str, *, series_uid: str | None = None,
                max_voxels: int = MAX_VOXELS) -> Volume:
    """A DICOM directory (one series of it) or a NIfTI file."""
    p = Path(path)
    if p.is_dir():
        return read_dicom_dir(p, series_uid=series_uid, max_voxels=max_voxels)
    if series_uid is not None:
        raise InvalidVolumeError(f"{p}: a series can be picked in a DICOM folder only")
    return read_nifti(p, max_voxels=max_voxels)


def save_label_nifti(label: np.ndarray, like: Volume, path: Path | str) -> None:
    """Write a (z, y, x) label map on `like`'s grid (stored x, y, z with a RAS affine)."""
    img = nib.Nifti1Image(np.ascontiguousarray(label.transpose(2, 1, 0)),
                          _LPS_TO_RAS @ like.lps_affine())
    img.header.set_xyzt_units("mm")
    nib.save(img, str(path))
