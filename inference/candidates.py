"""Connected components of a probability map -> lesion candidates with measurements."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError
from scipy.spatial.distance import pdist, squareform

MAX_LABELS = 255  # the label map is uint8
CONNECTIVITY = np.ones((3, 3, 3), dtype=bool)  # 26-connected: a nodule is one component

Box = tuple[slice, slice, slice]


@dataclass
class Candidate:
    label: int
    probability_max: float
    probability_mean: float
    centroid_voxel: tuple[float, float, float]  # (z, y, x)
    centroid_mm: tuple[float, float, float]  # patient (x, y, z)
    diameter_mm: float
    volume_mm3: float
    bbox: tuple[int, int, int, int, int, int]  # z0, y0, x0, z1, y1, x1 (end exclusive)
    # What proposed it: "network" (segmentation) or "second_stage" (blob + patch classifier).
    detector: str = "network"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Component:
    """One thresholded blob: where it is (global box) and its voxels inside that box."""

    box: Box
    mask: np.ndarray
    probability_max: float
    probability_mean: float


def long_axis_mm(points_mm: np.ndarray, spacing: tuple[float, float, float]) -> float:
    """Longest distance across a set of voxel centres, plus one voxel extent along it."""
    if len(points_mm) == 1:
        return float(np.mean(spacing))
    pts = points_mm
    if len(pts) > 8:
        try:
            pts = pts[ConvexHull(pts, qhull_options="QJ").vertices]
        except (QhullError, ValueError):
            pass
    dist = squareform(pdist(pts))
    i, j = np.unravel_index(int(np.argmax(dist)), dist.shape)
    d = pts[j] - pts[i]
    length = float(np.linalg.norm(d))
    if length == 0:
        return float(np.mean(spacing))
    extent = float(np.abs(d / length) @ np.asarray(spacing, dtype=np.float64))
    return length + extent


def measure_mask(
    mask: np.ndarray, spacing: tuple[float, float, float] | Any
) -> tuple[float, float, tuple[float, float, float]]:
    """(long-axis diameter mm, volume mm³, centroid (z, y, x) voxel) of a binary mask.

    The long axis is the largest 3D distance across the mask (voxel extent included). Raises
    ValueError on an empty mask. The web side uses this for human-drawn masks too, so AI and
    human findings are measured the same way.
    """
    sp = tuple(float(s) for s in spacing)
    if len(sp) != 3:
        raise ValueError("spacing must have three values (z, y, x)")
    mask = np.asarray(mask, dtype=bool)
    idx = np.argwhere(mask)
    if len(idx) == 0:
        raise ValueError("empty mask")
    volume = float(len(idx) * sp[0] * sp[1] * sp[2])
    centroid = idx.mean(axis=0)
    if len(idx) > 64:  # only surface voxels can be the ends of the long axis
        lo, hi = idx.min(axis=0), idx.max(axis=0) + 1
        sub = mask[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
        surface = sub & ~ndimage.binary_erosion(sub)
        idx = np.argwhere(surface) + lo
    diameter = long_axis_mm(idx * np.array(sp), (sp[0], sp[1], sp[2]))
    return diameter, volume, (float(centroid[0]), float(centroid[1]), float(centroid[2]))


def components_in(prob: np.ndarray, offset: tuple[int, int, int], *, threshold: float,
                  min_voxels: int) -> list[Component]:
    """Components of `prob >= threshold` in a crop whose corner sits at `offset` globally."""
    labels, _ = ndimage.label(prob >= threshold, structure=CONNECTIVITY)
    out = []
    for k, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is None:
            continue
        comp = labels[sl] == k
        if int(comp.sum()) < min_voxels:
            continue
        p = prob[sl][comp]
        box = tuple(slice(s.start + o, s.stop + o) for s, o in zip(sl, offset, strict=True))
        out.append(Component(box, comp, float(p.max()), float(p.mean())))  # type: ignore[arg-type]
    return out


def paint_candidates(
    components: list[Component],
    shape: tuple[int, int, int],
    spacing: tuple[float, float, float],
    voxel_to_mm: Callable[[tuple[float, float, float]], tuple[float, float, float]],
) -> tuple[np.ndarray, list[Candidate]]:
    """uint8 label map with candidate k painted k (1..K by descending max probability)."""
    ordered = sorted(components, key=lambda c: (-c.probability_max, -int(c.mask.sum())))
    ordered = ordered[:MAX_LABELS]
    out = np.zeros(shape, dtype=np.uint8)
    cands = []
    for k, comp in enumerate(ordered, start=1):
        out[comp.box][comp.mask] = k
        diameter, volume, c_local = measure_mask(comp.mask, spacing)
        c = tuple(c_local[i] + comp.box[i].start for i in range(3))
        cands.append(Candidate(
            label=k,
            probability_max=round(comp.probability_max, 4),
            probability_mean=round(comp.probability_mean, 4),
            centroid_voxel=(round(c[0], 2), round(c[1], 2), round(c[2], 2)),
            centroid_mm=tuple(round(v, 2) for v in voxel_to_mm((c[0], c[1], c[2]))),  # type: ignore[arg-type]
            diameter_mm=round(diameter, 2),
            volume_mm3=round(volume, 2),
            bbox=(comp.box[0].start, comp.box[1].start, comp.box[2].start,
                  comp.box[0].stop, comp.box[1].stop, comp.box[2].stop),
        ))
    return out, cands


def extract_candidates(
    prob: np.ndarray,
    spacing: tuple[float, float, float],
    voxel_to_mm: Callable[[tuple[float, float, float]], tuple[float, float, float]],
    *,
    threshold: float = 0.5,
    min_volume_mm3: float = 0.0,
) -> tuple[np.ndarray, list[Candidate]]:
    """Candidates from a full probability map on its own grid."""
    min_voxels = max(1, int(np.ceil(min_volume_mm3 / float(np.prod(spacing)))))
    comps = components_in(prob, (0, 0, 0), threshold=threshold, min_voxels=min_voxels)
    return paint_candidates(comps, prob.shape, spacing, voxel_to_mm)  # type: ignore[arg-type]
