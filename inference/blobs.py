"""Dense round blobs inside the lungs: the candidate points of the second detection stage.

A small nodule touching a vessel is a bright bump the segmentation network tends to call vessel.
The Hessian of the smoothed image tells a bump (all three curvatures negative) from a tube (one
near zero), so its scale-normalised smallest curvature, at local maxima, proposes such bumps for
a patch classifier to judge. Works on the model grid (isotropic voxels, intensities scaled by
the bundle's window), so every level below is in model intensity units.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class BlobSettings:
    sigmas: tuple[float, ...] = (1.2, 2.0)  # Gaussian scales in voxels (4-7 mm blobs at 1 mm)
    dense_level: float = 0.35  # a blob centre is brighter than this (-510 HU in a -1000/400 window)
    air_level: float = 0.43  # lung is darker than this (-400 HU)
    lung_margin: int = 4  # voxels the lung mask grows by: juxta-pleural bumps sit on its edge
    min_blobness: float = 0.01
    max_candidates: int = 120
    min_lung_voxels: int = 2000


@dataclass
class Blobs:
    points: np.ndarray  # (n, 3) int voxel indices (z, y, x), strongest first
    strength: np.ndarray  # (n,) scale-normalised blobness
    sigma: np.ndarray  # (n,) the scale (voxels) where each blob was strongest


_IN_PLANE = np.zeros((3, 3, 3), dtype=bool)  # 4-connectivity within a slice, none across
_IN_PLANE[1] = ndimage.generate_binary_structure(2, 1)


def _border_labels(labels: np.ndarray) -> np.ndarray:
    """Labels touching the in-plane border (y or x edge) of any slice."""
    return np.unique(np.concatenate([labels[:, 0].ravel(), labels[:, -1].ravel(),
                                     labels[:, :, 0].ravel(), labels[:, :, -1].ravel()]))


def fill_holes_per_slice(mask: np.ndarray) -> np.ndarray:
    """`ndimage.binary_fill_holes` slice by slice, as one labelling of the background with
    in-plane connectivity (a loop over slices costs several times more)."""
    labels, n = ndimage.label(~mask, structure=_IN_PLANE)
    # a lookup table by label instead of np.isin (which sorts 10 M labels): a hole is a
    # background component that touches no in-plane border
    hole = np.ones(n + 1, dtype=bool)
    hole[_border_labels(labels)] = False
    filled: np.ndarray = mask | hole[labels]
    return filled


def lung_mask_coarse(image: np.ndarray, settings: BlobSettings) -> np.ndarray:
    """Air enclosed by the body, with what lies inside it (vessels, nodules) filled in, on the
    2x-subsampled grid `image[::2, ::2, ::2]` (labelling 40 M voxels costs seconds), grown by the
    margin; air touching the in-plane border is outside the patient."""
    small = image[::2, ::2, ::2] < settings.air_level
    labels, n = ndimage.label(small)
    if n == 0:
        return np.zeros(small.shape, dtype=bool)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    keep = sizes * 8 >= settings.min_lung_voxels
    keep[0] = False
    keep[_border_labels(labels)] = False
    lung = fill_holes_per_slice(keep[labels])
    grow = max(1, (settings.lung_margin + 1) // 2)
    grown: np.ndarray = ndimage.binary_dilation(lung, iterations=grow)
    return grown


def _bounding_box(mask: np.ndarray) -> tuple[slice, ...] | None:
    box = []
    for axis in range(mask.ndim):
        hit = np.flatnonzero(mask.any(axis=tuple(a for a in range(mask.ndim) if a != axis)))
        if len(hit) == 0:
            return None
        box.append(slice(int(hit[0]), int(hit[-1]) + 1))
    return tuple(box)


def candidate_region(image: np.ndarray, settings: BlobSettings) -> np.ndarray:
    """Dense voxels of the (grown) lungs, off the image border: where blob centres may lie.
    The coarse lung mask is brought to full resolution only inside its own bounding box."""
    region = np.zeros(image.shape, dtype=bool)
    coarse = lung_mask_coarse(image, settings)
    cbox = _bounding_box(coarse)
    if cbox is None:
        return region
    box = tuple(slice(b.start * 2, min(b.stop * 2, n)) for b, n in zip(cbox, image.shape,
                                                                       strict=True))
    lung = coarse[cbox]
    for axis in range(3):
        lung = np.repeat(lung, 2, axis=axis)
    lung = lung[tuple(slice(0, b.stop - b.start) for b in box)]
    region[box] = lung & (image[box] > settings.dense_level)
    region[[0, -1]] = False
    region[:, [0, -1]] = False
    region[:, :, [0, -1]] = False
    return region


def _largest_eigenvalue(h: list[np.ndarray]) -> np.ndarray:
    """Largest eigenvalue of symmetric 3x3 matrices (hzz, hyy, hxx, hzy, hzx, hyx), closed form
    (trigonometric solution): eigvalsh on millions of matrices is ten times slower."""
    hzz, hyy, hxx, hzy, hzx, hyx = h
    q = (hzz + hyy + hxx) / 3
    p1 = hzy**2 + hzx**2 + hyx**2
    p = np.sqrt(((hzz - q) ** 2 + (hyy - q) ** 2 + (hxx - q) ** 2 + 2 * p1) / 6) + 1e-12
    b11, b22, b33 = (hzz - q) / p, (hyy - q) / p, (hxx - q) / p
    b12, b13, b23 = hzy / p, hzx / p, hyx / p
    r = (b11 * (b22 * b33 - b23 * b23) - b12 * (b12 * b33 - b23 * b13)
         + b13 * (b12 * b23 - b22 * b13)) / 2
    phi = np.arccos(np.clip(r, -1.0, 1.0)) / 3
    largest: np.ndarray = q + 2 * p * np.cos(phi)
    return largest


def _blobness(smooth: np.ndarray, flat: np.ndarray, sigma: float) -> np.ndarray:
    """Scale-normalised blobness (minus the largest Hessian eigenvalue times sigma^2, where all
    three are negative) of `smooth` at the given flat (interior) indices, by central differences.

    The largest eigenvalue is at least every diagonal entry, so voxels with a diagonal entry
    >= 0 are no blob and skip the off-diagonal terms and the eigenvalue."""
    values = smooth.ravel()
    sz, sy, sx = (stride // smooth.itemsize for stride in smooth.strides)

    def at(where: np.ndarray, dz: int, dy: int, dx: int) -> np.ndarray:
        return values[where + (dz * sz + dy * sy + dx * sx)].astype(np.float64)

    c = at(flat, 0, 0, 0)
    hzz = at(flat, 1, 0, 0) - 2 * c + at(flat, -1, 0, 0)
    hyy = at(flat, 0, 1, 0) - 2 * c + at(flat, 0, -1, 0)
    hxx = at(flat, 0, 0, 1) - 2 * c + at(flat, 0, 0, -1)
    out = np.zeros(len(flat), dtype=np.float32)
    bowl = np.flatnonzero((hzz < 0) & (hyy < 0) & (hxx < 0))
    b, hzz, hyy, hxx = flat[bowl], hzz[bowl], hyy[bowl], hxx[bowl]
    hzy = (at(b, 1, 1, 0) - at(b, 1, -1, 0) - at(b, -1, 1, 0) + at(b, -1, -1, 0)) / 4
    hzx = (at(b, 1, 0, 1) - at(b, 1, 0, -1) - at(b, -1, 0, 1) + at(b, -1, 0, -1)) / 4
    hyx = (at(b, 0, 1, 1) - at(b, 0, 1, -1) - at(b, 0, -1, 1) + at(b, 0, -1, -1)) / 4
    largest = _largest_eigenvalue([hzz, hyy, hxx, hzy, hzx, hyx])
    out[bowl] = np.where(largest < 0, -largest * sigma * sigma, 0.0)
    return out


def _local_peaks(strength: np.ndarray, flat: np.ndarray, size: int = 5) -> np.ndarray:
    """Which of the flat indices hold the maximum of their size^3 neighbourhood (clipped at the
    border), checked at those voxels only: a full maximum filter costs ten times more."""
    values = strength.ravel()[flat]
    top = values.copy()
    coords = np.unravel_index(flat, strength.shape)
    half = size // 2
    shifted = [[np.clip(c + d, 0, n - 1) for d in range(-half, half + 1)]
               for c, n in zip(coords, strength.shape, strict=True)]
    for z in shifted[0]:
        for y in shifted[1]:
            for x in shifted[2]:
                np.maximum(top, strength[z, y, x], out=top)
    peaks: np.ndarray = values == top
    return peaks


def find_blobs(image: np.ndarray, settings: BlobSettings | None = None) -> Blobs:
    """Local maxima of scale-normalised blobness among dense voxels of the (grown) lungs."""
    s = settings or BlobSettings()
    img = np.asarray(image, dtype=np.float32)
    empty = Blobs(np.zeros((0, 3), dtype=np.int64), np.zeros(0, np.float32),
                  np.zeros(0, np.float32))
    if img.ndim != 3 or min(img.shape) < 8:
        return empty
    region = candidate_region(img, s)
    rbox = _bounding_box(region)
    if rbox is None:
        return empty
    pad = int(np.ceil(3 * max(s.sigmas))) + 2
    box = tuple(slice(max(b.start - pad, 0), min(b.stop + pad, n))
                for b, n in zip(rbox, img.shape, strict=True))
    sub = img[box]  # a view: the filters read it in place (their outputs are contiguous)
    flat = np.flatnonzero(region[box])

    def at_scale(sigma: float) -> np.ndarray:
        return _blobness(ndimage.gaussian_filter(sub, sigma, truncate=3.0), flat, sigma)

    # scipy's filters release the GIL: the scales run side by side on the cores there are
    with ThreadPoolExecutor(max(1, min(len(s.sigmas), os.cpu_count() or 1))) as pool:
        per_scale = list(pool.map(at_scale, s.sigmas))
    best = np.zeros(len(flat), dtype=np.float32)
    scale = np.zeros(len(flat), dtype=np.float32)
    for sigma, value in zip(s.sigmas, per_scale, strict=True):
        better = value > best
        best = np.where(better, value, best)
        scale = np.where(better, np.float32(sigma), scale)
    strength = np.zeros(sub.shape, dtype=np.float32)
    strength.ravel()[flat] = best
    above = best > s.min_blobness
    cand, cand_scale = flat[above], scale[above]
    peaks = _local_peaks(strength, cand)
    pflat, values, sigmas = cand[peaks], best[above][peaks], cand_scale[peaks]
    order = np.argsort(-values, kind="stable")[: s.max_candidates]
    offset = np.array([b.start for b in box])
    points = np.stack(np.unravel_index(pflat[order], sub.shape), axis=1) + offset
    return Blobs(points.astype(np.int64), values[order], sigmas[order])
