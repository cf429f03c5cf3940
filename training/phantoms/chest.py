"""Synthetic chest CT: body, fat, spine, ribs, heart, lungs with vessel trees and nodules.

Everything is built from analytic soft-edged shapes evaluated only inside the boxes they can
touch, so a 512x512x300 study takes a few seconds. Values are Hounsfield units.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.ndimage import gaussian_filter1d

from .shapes import Box, box_around, lobulated_radius_field, soft_edge, tapered_capsule_sd
from .types import Lesion, Phantom

SLICE_THICKNESSES = (0.625, 1.0, 1.25, 1.5, 2.0, 2.5)
CHEST_LENGTH_MM = 300.0
LUNG_HU = -850.0
TISSUE_HU = -400.0  # halfway between lung and soft tissue (vessels, wall)


@dataclass
class _Lung:
    cy: float
    cx: float
    ry: float
    rx: float
    box: Box  # the lung's (z, y, x) bounding box
    frac: np.ndarray  # lung fraction (0..1) inside `box`
    profile: np.ndarray  # lung scale per slice of `box`


@dataclass
class _Segment:
    a: np.ndarray  # (z, y, x) mm
    b: np.ndarray
    radius: float  # at a
    end_radius: float  # at b

    def radius_at(self, t: float) -> float:
        return self.radius + (self.end_radius - self.radius) * t


def chest_ct(
    seed: int,
    *,
    size: int = 512,
    slices: int | None = None,
    n_lesions: int | None = None,
    min_diameter_mm: float = 3.0,
    max_diameter_mm: float = 30.0,
) -> Phantom:
    """A deterministic (by `seed`) chest CT with instance-labelled nodules."""
    rng = np.random.default_rng(seed)
    pix = round(float(rng.uniform(0.6, 0.9)), 3)
    thick = float(rng.choice(SLICE_THICKNESSES))
    nz = slices if slices is not None else max(int(round(CHEST_LENGTH_MM / thick)), 1)
    shape = (nz, size, size)
    spacing = (thick, pix, pix)
    ly, lx = size * pix, size * pix

    img = np.empty(shape, dtype=np.float32)
    ys = (np.arange(size, dtype=np.float32) * pix)[:, None]
    xs = (np.arange(size, dtype=np.float32) * pix)[None, :]
    cy, cx = ly * rng.uniform(0.48, 0.54), lx * rng.uniform(0.48, 0.52)
    by, bx = 0.32 * ly * rng.uniform(0.9, 1.05), 0.45 * lx * rng.uniform(0.9, 1.0)
    body_r = np.sqrt(((xs - cx) / bx) ** 2 + ((ys - cy) / by) ** 2)
    body_m = float(min(bx, by))

    # Body cross-section is constant along z: compute it in 2D and broadcast.
    body = soft_edge((body_r - 1.0) * body_m, 1.5)
    fat = soft_edge((0.9 - body_r) * body_m, 2.0)
    tissue = 40.0 - 140.0 * fat
    base = -1000.0 + body * (tissue + 1000.0)
    base += _spine_2d(ys, xs, cy, cx, by)
    img[:] = base[None]
    _add_discs(img, ys, xs, cy, cx, by, thick)
    _add_ribs(img, rng, ys, xs, cy, cx, body_r, body_m, thick)

    lungs = _add_lungs(img, rng, shape, spacing, cy, cx, by, bx, body_r, body_m)
    segments = _add_vessels(img, rng, lungs, shape, spacing)
    label = np.zeros(shape, dtype=np.uint8)
    origin = (
        round(-lx / 2 + float(rng.uniform(-10, 10)), 2),
        round(-ly / 2 + float(rng.uniform(-10, 10)), 2),
        round(-float(rng.uniform(100, 400)), 2),
    )
    n = n_lesions if n_lesions is not None else int(rng.integers(1, 5))
    lesions = _add_nodules(
        img, label, rng, lungs, segments, shape, spacing, origin, n,
        min_diameter_mm, max_diameter_mm,
    )

    # Scanner blur in-plane then quantum noise; both in float32 on the whole volume.
    sigma = float(rng.uniform(0.5, 0.8))
    gaussian_filter1d(img, sigma, axis=1, output=img, truncate=3.0)
    gaussian_filter1d(img, sigma, axis=2, output=img, truncate=3.0)
    noise_hu = np.float32(rng.uniform(8.0, 25.0))
    img += rng.standard_normal(shape, dtype=np.float32) * noise_hu
    np.clip(img, -1024, 3071, out=img)
    return Phantom(
        image=np.rint(img).astype(np.int16),
        label=label,
        spacing=spacing,
        origin=origin,
        modality="CT",
        lesions=lesions,
        seed=seed,
    )


def _spine_2d(ys: np.ndarray, xs: np.ndarray, cy: float, cx: float, by: float) -> np.ndarray:
    rv = 0.17 * by
    vy = cy + 0.62 * by
    r = np.sqrt((xs - cx) ** 2 + (ys - vy) ** 2)
    bone = soft_edge(r - rv, 1.0)
    cortex = soft_edge(np.abs(r - rv * 0.92) - rv * 0.08, 1.0)
    canal = soft_edge(np.sqrt((xs - cx) ** 2 + (ys - (vy + 1.45 * rv)) ** 2) - 0.45 * rv, 1.0)
    arch = soft_edge(np.abs(np.sqrt((xs - cx) ** 2 + (ys - (vy + 1.45 * rv)) ** 2) - 0.6 * rv)
                     - 0.15 * rv, 1.0)
    return bone * 210.0 + cortex * 350.0 + arch * 500.0 - canal * 20.0


def _add_discs(
    img: np.ndarray, ys: np.ndarray, xs: np.ndarray, cy: float, cx: float, by: float,
    thick: float,
) -> None:
    """Intervertebral discs: the vertebral body drops to soft tissue every ~28 mm."""
    rv = 0.17 * by
    vy = cy + 0.62 * by
    inside = np.nonzero(np.sqrt((xs - cx) ** 2 + (ys - vy) ** 2) < rv)
    zmm = np.arange(img.shape[0], dtype=np.float32) * thick
    disc = np.clip(1.0 - np.abs((zmm % 28.0) - 3.0) / 3.0, 0.0, 1.0)
    rows = np.nonzero(disc > 0)[0]
    if rows.size and inside[0].size:
        sub = img[rows][:, inside[0], inside[1]]
        sub += disc[rows, None] * (80.0 - sub)
        img[rows[:, None], inside[0][None], inside[1][None]] = sub


def _add_ribs(
    img: np.ndarray, rng: np.random.Generator, ys: np.ndarray, xs: np.ndarray, cy: float,
    cx: float, body_r: np.ndarray, body_m: float, thick: float,
) -> None:
    """Slanted ribs on a ring inside the body wall, with a gap at the sternum."""
    ring = soft_edge(np.abs(body_r - 0.87) * body_m - 0.03 * body_m, 1.0)
    angle = np.arctan2(ys - cy, xs - cx)
    ring = ring * (np.abs(angle + np.pi / 2) > 0.35)
    iy, ix = np.nonzero(ring > 0)
    if iy.size == 0:
        return
    period = float(rng.uniform(26.0, 32.0))
    slope = float(rng.uniform(25.0, 35.0))  # mm of z per radian away from the spine
    rib_w = 0.3 * period
    arc = slope * np.abs(np.pi / 2 - np.abs(angle[iy, ix] - 0.0))
    zmm = np.arange(img.shape[0], dtype=np.float32)[:, None] * thick
    phase = (zmm + arc[None, :]) % period
    rib = np.clip(1.0 - np.abs(phase - period / 2) / (rib_w / 2), 0.0, 1.0)
    rib = np.clip(rib * 2.0, 0.0, 1.0) * ring[iy, ix][None, :]
    sub = img[:, iy, ix]
    sub += rib * (550.0 - sub)
    img[:, iy, ix] = sub


def _add_lungs(
    img: np.ndarray, rng: np.random.Generator, shape: tuple[int, int, int],
    spacing: tuple[float, float, float], cy: float, cx: float, by: float, bx: float,
    body_r: np.ndarray, body_m: float,
) -> list[_Lung]:
    lz = shape[0] * spacing[0]
    z0, z1 = lz * rng.uniform(0.0, 0.1), lz * rng.uniform(0.92, 1.05)
    heart = (lz * rng.uniform(0.2, 0.35), cy - 0.3 * by, cx + 0.12 * bx)
    heart_r = (max(lz * 0.25, 40.0), 0.38 * by, 0.3 * bx)
    lungs = []
    for side in (-1.0, 1.0):
        ry, rx = 0.62 * by * rng.uniform(0.95, 1.05), 0.33 * bx * rng.uniform(0.95, 1.05)
        ly0, lx0 = cy + 0.02 * by, cx + side * 0.47 * bx
        box = box_around((z0, ly0 - ry - 2, lx0 - rx - 2), (z1, ly0 + ry + 2, lx0 + rx + 2),
                         shape, spacing)
        if box.empty:
            continue
        t = (box.z - z0) / (z1 - z0)
        profile = np.sqrt(np.clip(1.0 - ((t - 0.45) / 0.55) ** 4, 0.0, 1.0))
        r2d = np.sqrt(((box.x - lx0) / rx) ** 2 + ((box.y - ly0) / ry) ** 2)
        sd = (r2d - profile) * np.float32(min(rx, ry))
        # The chest wall and the heart bound the lung: intersect signed distances.
        wall = (body_r[box.sl[1], box.sl[2]][None] - 0.8) * np.float32(body_m)
        hd = np.sqrt(((box.z - heart[0]) / heart_r[0]) ** 2 + ((box.y - heart[1]) / heart_r[1])
                     ** 2 + ((box.x - heart[2]) / heart_r[2]) ** 2)
        sd = np.maximum(np.maximum(sd, wall), (1.0 - hd) * np.float32(min(heart_r[1:])))
        frac = soft_edge(sd, 1.2)
        lung_hu = LUNG_HU + 50.0 * (box.y - cy) / by + rng.uniform(-30, 30)
        sub = img[box.sl]
        sub += frac * (lung_hu - sub)
        lungs.append(_Lung(ly0, lx0, ry, rx, box, frac, profile[:, 0, 0]))
    return lungs


def _lung_frac_at(lungs: list[_Lung], p: np.ndarray, spacing: tuple[float, ...]) -> float:
    for lung in lungs:
        idx = [int(round(p[i] / spacing[i])) - (lung.box.sl[i].start or 0) for i in range(3)]
        if all(0 <= idx[i] < lung.frac.shape[i] for i in range(3)):
            v = float(lung.frac[idx[0], idx[1], idx[2]])
            if v > 0:
                return v
    return 0.0


def _rotate_away(d: np.ndarray, rng: np.random.Generator, angle: float) -> np.ndarray:
    perp = np.cross(d, rng.normal(size=3))
    perp /= np.linalg.norm(perp) + 1e-9
    out = np.cos(angle) * d + np.sin(angle) * perp
    return out / np.linalg.norm(out)


def _add_vessels(
    img: np.ndarray, rng: np.random.Generator, lungs: list[_Lung],
    shape: tuple[int, int, int], spacing: tuple[float, float, float],
) -> list[_Segment]:
    """Branching vessel trees from each hilum, drawn only where there is lung."""
    vessel_hu = float(rng.uniform(25, 60))
    segments = _grow_vessels(rng, lungs, img.shape[2] * spacing[2], spacing)
    for seg in segments:
        _draw_segment(img, lungs, seg, vessel_hu, shape, spacing)
    return segments


TIP_RADIUS_MM = 0.4  # where a branch stops, the vessel has tapered to sub-millimetre


def _grow_vessels(
    rng: np.random.Generator, lungs: list[_Lung], width_mm: float,
    spacing: tuple[float, float, float],
) -> list[_Segment]:
    """The tree geometry: each segment tapers towards its children's calibre, and a branch that
    stops (depth limit, too thin, or at the lung edge) tapers to a point. Blunt ends of thick
    vessels would look like nodules in every plane, which real vessels never do."""
    segments: list[_Segment] = []
    for lung in lungs:
        zc = float(lung.box.z[lung.box.z.shape[0] // 2, 0, 0]) if lung.box.z.size else 0.0
        medial = 1.0 if lung.cx < width_mm / 2 else -1.0
        root = np.array([zc, lung.cy, lung.cx + medial * 0.55 * lung.rx])
        scale = float(min(lung.rx, lung.ry))
        stack: list[tuple[np.ndarray, np.ndarray, float, int]] = []
        for start in ([1.0, 0.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.3, -medial],
                      [0.2, -0.5, -medial], [0.6, 0.4, -medial], [-0.6, -0.2, -medial]):
            v = np.array(start) / np.linalg.norm(start)
            stack.append((root, _rotate_away(v, rng, rng.uniform(0, 0.4)), 4.0, 0))
        while stack:
            a, d, radius, depth = stack.pop()
            length = scale * rng.uniform(0.35, 0.55) * 0.78 ** depth
            b = a + d * length
            if _lung_frac_at(lungs, b, spacing) < 0.5:
                b = a + d * length * 0.5
            branches = depth < 6 and radius > 0.7 and _lung_frac_at(lungs, b, spacing) > 0.5
            if branches:
                children = [(_rotate_away(d, rng, rng.uniform(0.35, 0.7)),
                             radius * rng.uniform(0.65, 0.8)) for _ in range(2)]
                end = max(r for _, r in children)
                stack.extend((b, nd, r, depth + 1) for nd, r in children)
            else:
                end = min(TIP_RADIUS_MM, radius)
            segments.append(_Segment(a, b, radius, end))
    return segments


def _draw_segment(
    img: np.ndarray, lungs: list[_Lung], seg: _Segment, hu: float,
    shape: tuple[int, int, int], spacing: tuple[float, float, float],
) -> None:
    pad = seg.radius + 1.5
    lo = tuple(float(v) for v in np.minimum(seg.a, seg.b) - pad)
    hi = tuple(float(v) for v in np.maximum(seg.a, seg.b) + pad)
    box = box_around((lo[0], lo[1], lo[2]), (hi[0], hi[1], hi[2]), shape, spacing)
    if box.empty:
        return
    sd = tapered_capsule_sd(box, seg.a.astype(np.float32), seg.b.astype(np.float32),
                            seg.radius, seg.end_radius)
    w = soft_edge(sd, 1.0)
    w *= _lung_frac_box(lungs, box)
    sub = img[box.sl]
    sub += w * (hu - sub)


def _lung_frac_box(lungs: list[_Lung], box: Box) -> np.ndarray:
    """Lung fraction resampled onto `box` (zero outside every lung box)."""
    out = np.zeros((box.z.shape[0], box.y.shape[1], box.x.shape[2]), dtype=np.float32)
    for lung in lungs:
        src, dst = [], []
        for i in range(3):
            a = max(box.sl[i].start, lung.box.sl[i].start)
            b = min(box.sl[i].stop, lung.box.sl[i].stop)
            if a >= b:
                break
            src.append(slice(a - lung.box.sl[i].start, b - lung.box.sl[i].start))
            dst.append(slice(a - box.sl[i].start, b - box.sl[i].start))
        else:
            d = (dst[0], dst[1], dst[2])
            out[d] = np.maximum(out[d], lung.frac[src[0], src[1], src[2]])
    return out


def _add_nodules(
    img: np.ndarray, label: np.ndarray, rng: np.random.Generator, lungs: list[_Lung],
    segments: list[_Segment], shape: tuple[int, int, int], spacing: tuple[float, float, float],
    origin: tuple[float, float, float], n: int, dmin: float, dmax: float,
) -> list[Lesion]:
    lesions: list[Lesion] = []
    placed: list[tuple[np.ndarray, float]] = []
    big_vessels = [s for s in segments if s.radius >= 1.2]
    for _ in range(n * 40):
        if len(lesions) >= n or not lungs:
            break
        lung = lungs[int(rng.integers(len(lungs)))]
        limit = min(dmax, 0.8 * min(lung.rx, lung.ry))
        diameter = float(np.exp(rng.uniform(np.log(dmin), np.log(max(limit, dmin)))))
        radius = diameter / 2
        kind = str(rng.choice(["solid", "part-solid", "ground-glass"], p=[0.6, 0.2, 0.2]))
        location = str(rng.choice(["parenchymal", "juxta-pleural", "juxta-vascular"],
                                  p=[0.5, 0.25, 0.25]))
        center = _place(rng, lung, location, radius, big_vessels, spacing)
        if center is None or _lung_frac_at(lungs, center, spacing) < 0.9:
            continue
        if any(np.linalg.norm(center - c) < radius + r + 3.0 for c, r in placed):
            continue
        lid = len(lesions) + 1
        if not _draw_nodule(img, label, rng, lungs, center, radius, kind, lid, shape, spacing):
            continue
        placed.append((center, radius))
        vox = tuple(int(round(center[i] / spacing[i])) for i in range(3))
        lesions.append(Lesion(
            id=lid,
            center_mm=(round(origin[0] + float(center[2]), 2),
                       round(origin[1] + float(center[1]), 2),
                       round(origin[2] + float(center[0]), 2)),
            center_voxel=(vox[0], vox[1], vox[2]),
            diameter_mm=round(diameter, 2),
            kind=kind,
            location=location,
        ))
    return lesions


def _place(
    rng: np.random.Generator, lung: _Lung, location: str, radius: float,
    vessels: list[_Segment], spacing: tuple[float, float, float],
) -> np.ndarray | None:
    if location == "juxta-vascular" and vessels:
        seg = vessels[int(rng.integers(len(vessels)))]
        t = float(rng.uniform(0.2, 0.8))
        d = seg.b - seg.a
        perp = _rotate_away(d / (np.linalg.norm(d) + 1e-9), rng, np.pi / 2)
        # Abutting, not swallowed: the nodule dips into the vessel by 20-70 % of the smaller
        # radius of the two, so at least two thirds of its diameter stands out of the vessel.
        rv = seg.radius_at(t)
        overlap = float(rng.uniform(0.2, 0.7)) * min(radius, rv)
        return np.asarray(seg.a + d * t + perp * (rv + radius - overlap))
    zs = np.nonzero(lung.profile > 0.6)[0]
    if zs.size == 0:
        return None
    k = int(rng.choice(zs))
    f = float(lung.profile[k])
    m = min(lung.rx, lung.ry)
    if location == "juxta-pleural":
        r = f - 0.5 * radius / m
    else:
        r = (f - (radius + 3.0) / m) * np.sqrt(rng.uniform(0.0, 1.0))
    if r <= 0:
        return None
    theta = rng.uniform(0, 2 * np.pi)
    z = float(lung.box.z[k, 0, 0])
    return np.array([z, lung.cy + lung.ry * r * np.sin(theta), lung.cx + lung.rx * r * np.cos(theta)])


# Share of a nodule that must be left after cutting a vessel out for the cut to stand: an
# abutting vessel takes at most about half (a dip of 70 % of the radius, blur, a branch beside it).
CARVE_KEEP = 0.4


def nodule_truth(mask: np.ndarray, before: np.ndarray) -> np.ndarray | None:
    """The truth mask of a nodule whose sphere is `mask`, drawn over the HU `before` it; None
    when nothing of it would show.

    Truth is the nodule, not the vessel it abuts: a reader's mask leaves the vessel out. When
    the cut would leave the nodule in pieces or keep less than `CARVE_KEEP` of it (a thick
    vessel seen end-on, or one running through it), a reader outlines the whole nodule."""
    carved = mask & (before < TISSUE_HU)
    pieces = ndimage.label(carved, structure=np.ones((3, 3, 3)))[1]
    if pieces == 0:
        return None
    if pieces == 1 and carved.sum() >= CARVE_KEEP * mask.sum():
        mask = carved
    return mask if mask.sum() >= 4 else None


def _draw_nodule(
    img: np.ndarray, label: np.ndarray, rng: np.random.Generator, lungs: list[_Lung],
    center: np.ndarray, radius: float, kind: str, lid: int, shape: tuple[int, int, int],
    spacing: tuple[float, float, float],
) -> bool:
    pad = radius * 1.5 + 2.0
    c = center.astype(np.float32)
    box = box_around((c[0] - pad, c[1] - pad, c[2] - pad), (c[0] + pad, c[1] + pad, c[2] + pad),
                     shape, spacing)
    if box.empty:
        return False
    sd = lobulated_radius_field(box, c, radius, rng)
    lungf = _lung_frac_box(lungs, box)
    sub = img[box.sl]
    mask = nodule_truth((sd <= 0) & (lungf >= 0.5) & (label[box.sl] == 0), sub)
    if mask is None:  # nothing of it would show: place it elsewhere
        return False
    if kind == "solid":
        w = soft_edge(sd, 1.0) * lungf
        hu = rng.uniform(0, 60) + 25.0 * rng.standard_normal(sd.shape).astype(np.float32)
        sub[:] = np.maximum(sub, sub + w * (hu - sub))
    else:
        w = soft_edge(sd, 2.0) * lungf
        ggo = rng.uniform(-680, -450) + 40.0 * rng.standard_normal(sd.shape).astype(np.float32)
        sub[:] = np.maximum(sub, sub + w * (ggo - sub))
        if kind == "part-solid":
            core = lobulated_radius_field(box, c, radius * rng.uniform(0.3, 0.6), rng)
            wc = soft_edge(core, 1.0) * lungf
            sub[:] = np.maximum(sub, sub + wc * (rng.uniform(0, 50) - sub))
    lab = label[box.sl]
    lab[mask] = lid
    return True
