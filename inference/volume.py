"""The in-memory image every entry point works on, and its checks."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from .errors import InvalidVolumeError

# Refuse volumes above this many voxels before allocating anything for them (~8 GiB float32).
MAX_VOXELS = int(os.environ.get("NODUS_MAX_VOXELS", 2 * 1024**3))


@dataclass
class Volume:
    """A scalar 3D image on an arbitrary patient-space grid (DICOM LPS convention)."""

    array: np.ndarray  # (z, y, x) float32 in modality units (HU for CT)
    spacing: tuple[float, float, float]  # (z, y, x) mm
    origin: tuple[float, float, float]  # patient (x, y, z) mm of voxel (0, 0, 0)
    direction: np.ndarray = field(default_factory=lambda: np.eye(3))
    # direction columns: patient direction of the x (column), y (row) and z (slice) axes

    @property
    def shape(self) -> tuple[int, int, int]:
        z, y, x = self.array.shape
        return int(z), int(y), int(x)

    def lps_affine(self) -> np.ndarray:
        """4x4 mapping voxel (x, y, z) index -> patient LPS mm."""
        dz, dy, dx = self.spacing
        aff = np.eye(4)
        aff[:3, :3] = np.asarray(self.direction, dtype=np.float64) @ np.diag([dx, dy, dz])
        aff[:3, 3] = self.origin
        return aff

    def voxel_to_mm(self, zyx: tuple[float, float, float]) -> tuple[float, float, float]:
        """Patient (x, y, z) mm of a (possibly fractional) (z, y, x) voxel position."""
        p = self.lps_affine() @ np.array([zyx[2], zyx[1], zyx[0], 1.0])
        return float(p[0]), float(p[1]), float(p[2])


def check_size(shape: tuple[int, ...], max_voxels: int = MAX_VOXELS) -> None:
    n = int(np.prod([int(s) for s in shape], dtype=np.float64))
    if n > max_voxels:
        raise InvalidVolumeError(
            f"volume of {'x'.join(str(s) for s in shape)} = {n} voxels exceeds the limit of "
            f"{max_voxels} voxels"
        )


def validate_volume(volume: Volume, *, max_voxels: int = MAX_VOXELS) -> None:
    """Raise InvalidVolumeError unless `volume` is a finite, non-empty 3D scalar image."""
    arr = volume.array
    if not isinstance(arr, np.ndarray):
        raise InvalidVolumeError("volume.array must be a numpy array")
    if arr.ndim == 4:
        raise InvalidVolumeError(
            f"expected a single-channel 3D volume, got {arr.shape[0]} channels {arr.shape}")
    if arr.ndim != 3:
        raise InvalidVolumeError(f"expected a 3D (z, y, x) array, got shape {arr.shape}")
    if arr.size == 0 or min(arr.shape) == 0:
        raise InvalidVolumeError(f"empty volume {arr.shape}")
    check_size(arr.shape, max_voxels)
    sp = np.asarray(volume.spacing, dtype=np.float64)
    if sp.shape != (3,) or not np.all(np.isfinite(sp)) or np.any(sp <= 0):
        raise InvalidVolumeError(f"spacing must be three positive finite numbers, got "
                                 f"{volume.spacing}")
    if not np.all(np.isfinite(np.asarray(volume.origin, dtype=np.float64))):
        raise InvalidVolumeError(f"origin must be finite, got {volume.origin}")
    d = np.asarray(volume.direction, dtype=np.float64)
    if d.shape != (3, 3) or not np.all(np.isfinite(d)) or abs(abs(np.linalg.det(d)) - 1) > 1e-3:
        raise InvalidVolumeError("direction must be a 3x3 orthonormal matrix")
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise InvalidVolumeError(f"unsupported dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
        raise InvalidVolumeError("volume contains NaN or infinite values")
