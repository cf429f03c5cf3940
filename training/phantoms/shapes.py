"""Vectorised soft-edged shapes rendered into local boxes of a (z, y, x) grid.

Coordinates are millimetres in grid space (z, y, x) = index * spacing. Edges are soft (linear
ramp over `edge_mm`), which doubles as partial-volume blur and keeps the phantoms cheap to make.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Vec3 = tuple[float, float, float]


def soft_edge(signed_distance_mm: np.ndarray, edge_mm: float) -> np.ndarray:
    """1 inside, 0 outside, linear ramp of width `edge_mm` centred on the boundary."""
    out = 0.5 - signed_distance_mm / np.float32(edge_mm)
    np.clip(out, 0.0, 1.0, out=out)
    return out


@dataclass(frozen=True)
class Box:
    """A sub-grid: slices plus the mm coordinates of its voxels, broadcastable as (z, y, x)."""

    sl: tuple[slice, slice, slice]
    z: np.ndarray
    y: np.ndarray
    x: np.ndarray

    @property
    def empty(self) -> bool:
        return self.z.size == 0 or self.y.size == 0 or self.x.size == 0


def box_around(
    lo_mm: Vec3, hi_mm: Vec3, shape: tuple[int, int, int], spacing: Vec3
) -> Box:
    """The voxels whose centres may lie in the mm box [lo, hi] (clipped to the grid)."""
    sl = []
    coords = []
    for lo, hi, n, s in zip(lo_mm, hi_mm, shape, spacing, strict=True):
        a = max(int(np.floor(lo / s)), 0)
        b = min(int(np.ceil(hi / s)) + 1, n)
        b = max(a, b)
        sl.append(slice(a, b))
        coords.append(np.arange(a, b, dtype=np.float32) * np.float32(s))
    return Box(
        sl=(sl[0], sl[1], sl[2]),
        z=coords[0][:, None, None],
        y=coords[1][None, :, None],
        x=coords[2][None, None, :],
    )


def tapered_capsule_sd(
    box: Box, a: np.ndarray, b: np.ndarray, radius_a: float, radius_b: float
) -> np.ndarray:
    """Signed distance (mm, approximate) from every voxel in `box` to a tube along a-b (points
    given as z, y, x) whose radius goes linearly from `radius_a` to `radius_b`: a vessel that
    tapers. Exact for equal radii (a capsule)."""
    ab = b - a
    denom = float(ab @ ab) or 1e-6
    pz, py, px = box.z - a[0], box.y - a[1], box.x - a[2]
    t = (pz * ab[0] + py * ab[1] + px * ab[2]) / np.float32(denom)
    np.clip(t, 0.0, 1.0, out=t)
    dz, dy, dx = pz - t * ab[0], py - t * ab[1], px - t * ab[2]
    return np.sqrt(dz * dz + dy * dy + dx * dx) - (radius_a + (radius_b - radius_a) * t)


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    return (q * np.sign(np.diag(r))).astype(np.float32)


def lobulated_radius_field(
    box: Box,
    center: np.ndarray,
    radius_mm: float,
    rng: np.random.Generator,
    *,
    elongation: float = 0.25,
    lobulation: float = 0.15,
) -> np.ndarray:
    """Signed distance (mm, approximate) to a randomly rotated, lobulated ellipsoid."""
    axes = radius_mm * (1.0 + rng.uniform(-elongation, elongation, size=3)).astype(np.float32)
    rot = random_rotation(rng)
    d = (box.z - center[0], box.y - center[1], box.x - center[2])
    # Rotate into the ellipsoid frame, then scale by its axes.
    u = [rot[0, i] * d[0] + rot[1, i] * d[1] + rot[2, i] * d[2] for i in range(3)]
    r_norm = np.sqrt(sum((ui / ai) ** 2 for ui, ai in zip(u, axes, strict=True)))
    r_mm = np.sqrt(u[0] ** 2 + u[1] ** 2 + u[2] ** 2) + np.float32(1e-3)
    # Low-order angular modulation of the surface makes lobulated, non-spherical lesions.
    bumps = np.zeros_like(r_norm)
    for _ in range(3):
        k = rng.normal(size=3).astype(np.float32)
        k /= np.linalg.norm(k)
        freq = rng.integers(2, 5)
        phase = rng.uniform(0, 2 * np.pi)
        cos_a = (u[0] * k[0] + u[1] * k[1] + u[2] * k[2]) / r_mm
        bumps += np.cos(freq * np.arccos(np.clip(cos_a, -1, 1)) + phase)
    surface = 1.0 + np.float32(lobulation / 3.0) * bumps
    return (r_norm - surface) * np.float32(radius_mm)
