"""Read DICOM series and NIfTI into a `Volume`; write label maps as NIfTI."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
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
    """Stack the slices of one series, sorted along the slice normal, in modality units: single-
    frame files and/or enhanced multi-frame files (Enhanced CT/MR: geometry per frame in their
    functional groups). Every file must be a DICOM image of that series (the caller chose them)."""
    if not paths:
        raise InvalidVolumeError("no DICOM files given")
    headers = []
    for p in paths:
        try:
            headers.append((p, pydicom.dcmread(p, stop_before_pixels=True)))
        except (InvalidDicomError, OSError, ValueError) as exc:
            raise InvalidVolumeError(f"{Path(p).name}: not a readable DICOM file ({exc})") from exc
    return _stack(headers, max_voxels)


@dataclass
class _Slice:
    position: np.ndarray  # ImagePositionPatient (mm, LPS)
    orientation: np.ndarray  # ImageOrientationPatient (row direction, column direction)
    pixel_spacing: tuple[float, float]
    slope: float
    intercept: float
    path: Path
    frame: int | None  # index in a multi-frame file's pixels; None for a file of one frame


def _frames(ds: Any) -> int:
    try:
        return int(getattr(ds, "NumberOfFrames", 1) or 1)
    except (ValueError, TypeError) as exc:
        raise InvalidVolumeError(f"malformed NumberOfFrames: {exc}") from exc


def _floats(value: Any, n: int, what: str) -> np.ndarray:
    out = np.array([float(v) for v in value], dtype=np.float64)
    if out.shape != (n,) or not np.all(np.isfinite(out)):
        raise ValueError(f"{what} must hold {n} numbers")
    return out


def _slice(path: Path, frame: int | None, *sources: Any) -> _Slice:
    """A slice's geometry and rescale from the first source that has each attribute (a frame's
    own functional groups, then the shared ones, then the dataset)."""
    def find(sequence: str, name: str, default: Any = None) -> Any:
        for src in sources:
            seq = getattr(src, sequence, None)
            for item in (seq[0] if seq else None, src):
                if item is not None and name in item:
                    return getattr(item, name)
        if default is None:
            raise AttributeError(f"no {name}")
        return default

    try:
        spacing = _floats(find("PixelMeasuresSequence", "PixelSpacing"), 2, "PixelSpacing")
        if np.any(spacing <= 0):
            raise ValueError("PixelSpacing must be positive")
        return _Slice(
            position=_floats(find("PlanePositionSequence", "ImagePositionPatient"), 3,
                             "ImagePositionPatient"),
            orientation=_floats(find("PlaneOrientationSequence", "ImageOrientationPatient"), 6,
                                "ImageOrientationPatient"),
            pixel_spacing=(float(spacing[0]), float(spacing[1])),
            slope=float(find("PixelValueTransformationSequence", "RescaleSlope", 1.0) or 1.0),
            intercept=float(find("PixelValueTransformationSequence", "RescaleIntercept", 0.0)
                            or 0.0),
            path=path, frame=frame)
    except (AttributeError, ValueError, TypeError, IndexError) as exc:
        where = Path(path).name + (f" frame {frame + 1}" if frame is not None else "")
        raise InvalidVolumeError(f"{where}: missing or malformed geometry tags ({exc})") from exc


def _frames_of(path: Path, ds: Any) -> list[_Slice]:
    """A file's slices: one per frame of an enhanced image (geometry in its per-frame and shared
    functional groups), else the file itself."""
    n = _frames(ds)
    per_frame = getattr(ds, "PerFrameFunctionalGroupsSequence", None)
    if per_frame is None:
        if n > 1:
            raise InvalidVolumeError(f"{Path(path).name}: {n} frames without per-frame "
                                     "functional groups (no position for each frame)")
        return [_slice(path, None, ds)]
    if len(per_frame) != n:
        raise InvalidVolumeError(f"{Path(path).name}: {n} frames but {len(per_frame)} "
                                 "per-frame functional groups")
    shared = (getattr(ds, "SharedFunctionalGroupsSequence", None) or [None])[0]
    return [_slice(path, i if n > 1 else None, *(g for g in (item, shared, ds) if g is not None))
            for i, item in enumerate(per_frame)]


def _slices(headers: list[tuple[Path, Any]]) -> list[_Slice]:
    first_series = getattr(headers[0][1], "SeriesInstanceUID", None)
    out: list[_Slice] = []
    for path, ds in headers:
        if getattr(ds, "SeriesInstanceUID", None) != first_series:
            raise InvalidVolumeError("files from more than one series")
        out += _frames_of(path, ds)
    return out


def _stack(headers: list[tuple[Path, Any]], max_voxels: int) -> Volume:
    first = headers[0][1]
    try:
        sizes = {(int(ds.Rows), int(ds.Columns)) for _, ds in headers}
    except (AttributeError, ValueError, TypeError) as exc:
        raise InvalidVolumeError(f"missing or malformed Rows/Columns: {exc}") from exc
    if len(sizes) > 1:
        raise InvalidVolumeError("slices of different sizes in one series")
    rows, cols = sizes.pop()
    slices = _slices(headers)
    check_size((len(slices), rows, cols), max_voxels)
    iop = slices[0].orientation
    if any(not np.allclose(s.orientation, iop, atol=1e-4) for s in slices):
        raise InvalidVolumeError("slices of different orientations in one series")
    col_dir, row_dir = iop[:3], iop[3:]  # x axis runs along a row (columns), y along a column
    normal = np.cross(col_dir, row_dir)
    slices.sort(key=lambda s: float(np.dot(normal, s.position)))
    positions = np.array([float(np.dot(normal, s.position)) for s in slices])
    if len(positions) > 1:
        steps = np.diff(positions)
        if np.any(steps <= 1e-6):
            raise InvalidVolumeError("duplicate slice positions in series")
        dz = float(np.median(steps))
    else:
        dz = float(getattr(first, "SliceThickness", 1.0) or 1.0)
    arr = np.empty((len(slices), rows, cols), dtype=np.float32)
    # file by file: each decoded once, its frames written to their places along the normal
    by_file: dict[Path, list[tuple[int, _Slice]]] = {}
    for k, s in enumerate(slices):
        by_file.setdefault(s.path, []).append((k, s))
    for path, items in by_file.items():
        try:
            pixels = np.asarray(pydicom.dcmread(path).pixel_array)
        except Exception as exc:  # noqa: BLE001 - pixel decoders raise many types
            raise InvalidVolumeError(f"{Path(path).name}: cannot decode pixel data ({exc})") from exc
        for k, s in items:
            px = pixels if s.frame is None else pixels[s.frame] if s.frame < len(pixels) else None
            if px is None or px.shape != (rows, cols):
                shape = "missing" if px is None else str(px.shape)
                raise InvalidVolumeError(f"{Path(path).name}: pixel data is {shape}, not "
                                         f"{rows}x{cols} (colour or multi-sample images are "
                                         "not supported)")
            np.multiply(px, s.slope, out=arr[k], casting="unsafe")
            arr[k] += s.intercept
    dy, dx = slices[0].pixel_spacing
    origin = slices[0].position
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
