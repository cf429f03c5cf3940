"""Synthetic FLAIR-like brain MR: scalp, skull, CSF, cortex, white matter, ventricles, lesions.

Lesions are hyperintense lobulated blobs in white matter, many of them periventricular, under a
smooth multiplicative bias field and Rician noise. Intensities are arbitrary positive units.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

from .shapes import box_around, lobulated_radius_field, soft_edge
from .types import Lesion, Phantom

SLICE_THICKNESSES = (1.0, 1.5, 2.0, 3.0)
HEAD_LENGTH_MM = 180.0


def brain_mr(
    seed: int,
    *,
    size: int = 256,
    slices: int | None = None,
    n_lesions: int | None = None,
    min_diameter_mm: float = 3.0,
    max_diameter_mm: float = 25.0,
) -> Phantom:
    rng = np.random.default_rng(seed)
    pix = round(float(rng.uniform(0.85, 1.0)), 3)
    thick = float(rng.choice(SLICE_THICKNESSES))
    nz = slices if slices is not None else max(int(round(HEAD_LENGTH_MM / thick)), 1)
    shape = (nz, size, size)
    spacing = (thick, pix, pix)
    lz, ly, lx = nz * thick, size * pix, size * pix
    z = (np.arange(nz, dtype=np.float32) * thick)[:, None, None]
    y = (np.arange(size, dtype=np.float32) * pix)[None, :, None]
    x = (np.arange(size, dtype=np.float32) * pix)[None, None, :]
    c = (lz * 0.5, ly * rng.uniform(0.48, 0.52), lx * rng.uniform(0.48, 0.52))
    r = (0.55 * lz * rng.uniform(0.9, 1.0), 0.44 * ly * rng.uniform(0.92, 1.0),
         0.36 * lx * rng.uniform(0.92, 1.0))
    m = np.float32(min(r[1:]))
    rh = np.sqrt(((z - c[0]) / r[0]) ** 2 + ((y - c[1]) / r[1]) ** 2 + ((x - c[2]) / r[2]) ** 2)
    # Gyri: the cortex/white-matter boundary wobbles with a few angular frequencies.
    ang = np.arctan2(y - c[1], x - c[2])
    elev = (z - c[0]) / np.float32(r[0])
    gyri = 0.025 * np.sin(ang * rng.integers(14, 20) + elev * 9.0) * np.cos(elev * 11.0 + ang * 3)

    img = np.zeros(shape, dtype=np.float32)
    img += soft_edge((rh - 1.0) * m, 1.0) * 0.85  # scalp
    img += soft_edge((rh - 0.95) * m, 1.0) * (0.08 - 0.85)  # skull
    img += soft_edge((rh - 0.91) * m, 1.0) * (0.15 - 0.08)  # CSF
    brain = soft_edge((rh - 0.88 - gyri) * m, 1.0)
    img += brain * (0.62 - 0.15)  # grey matter
    wm = soft_edge((rh - 0.76 - gyri * 2) * m, 1.5)
    img += wm * (0.48 - 0.62)
    vent_c = []
    for side in (-1.0, 1.0):
        vc = (c[0] + 0.1 * r[0], c[1] - 0.05 * r[1], c[2] + side * 0.12 * r[2])
        vr = (0.28 * r[0], 0.45 * r[1], 0.08 * r[2] * rng.uniform(0.8, 1.5))
        vent_c.append((vc, vr))
        rv = np.sqrt(((z - vc[0]) / vr[0]) ** 2 + ((y - vc[1]) / vr[1]) ** 2
                     + ((x - vc[2]) / vr[2]) ** 2)
        img += soft_edge((rv - 1.0) * np.float32(vr[2]), 1.0) * (0.15 - 0.48)
    np.clip(img, 0.0, None, out=img)

    label = np.zeros(shape, dtype=np.uint8)
    origin = (round(-lx / 2, 2), round(-ly / 2, 2), round(-lz / 2 + float(rng.uniform(-20, 20)), 2))
    n = n_lesions if n_lesions is not None else int(rng.integers(2, 8))
    lesions: list[Lesion] = []
    placed: list[tuple[np.ndarray, float]] = []
    for _ in range(n * 40):
        if len(lesions) >= n:
            break
        d = float(np.exp(rng.uniform(np.log(min_diameter_mm), np.log(max_diameter_mm))))
        rad = d / 2
        if rng.uniform() < 0.5:  # periventricular: hug a ventricle's lateral wall
            vc, vr = vent_c[int(rng.integers(2))]
            side = 1.0 if vc[2] > c[2] else -1.0
            p = np.array([vc[0] + rng.uniform(-0.6, 0.6) * vr[0],
                          vc[1] + rng.uniform(-0.6, 0.6) * vr[1], vc[2] + side * (vr[2] + rad)])
        else:
            u = rng.normal(size=3)
            u /= np.linalg.norm(u)
            p = np.array(c) + u * np.array(r) * rng.uniform(0.2, 0.65)
        rn = np.sqrt(sum(((p[i] - c[i]) / r[i]) ** 2 for i in range(3)))
        if rn + rad / float(m) > 0.74 or any(np.linalg.norm(p - q) < rad + s + 2 for q, s in placed):
            continue
        pf = p.astype(np.float32)
        pad = rad * 1.6 + 2
        box = box_around(tuple(pf - pad), tuple(pf + pad), shape, spacing)  # type: ignore[arg-type]
        if box.empty:
            continue
        sd = lobulated_radius_field(box, pf, rad, rng, elongation=0.4, lobulation=0.3)
        mask = (sd <= 0) & (label[box.sl] == 0)
        if mask.sum() < 4:
            continue
        lid = len(lesions) + 1
        sub = img[box.sl]
        w = soft_edge(sd, 1.2)
        sub[:] = np.maximum(sub, sub + w * (rng.uniform(0.95, 1.25) - sub))
        label[box.sl][mask] = lid
        placed.append((p, rad))
        vox = tuple(int(round(p[i] / spacing[i])) for i in range(3))
        lesions.append(Lesion(
            id=lid,
            center_mm=(round(origin[0] + float(p[2]), 2), round(origin[1] + float(p[1]), 2),
                       round(origin[2] + float(p[0]), 2)),
            center_voxel=(vox[0], vox[1], vox[2]), diameter_mm=round(d, 2), kind="mr-lesion",
            location="parenchymal",
        ))

    # Smooth multiplicative bias field from a random low-order polynomial.
    k = rng.uniform(-0.25, 0.25, size=4).astype(np.float32)
    bias = np.exp(k[0] * (z / lz - 0.5) + k[1] * (y / ly - 0.5) + k[2] * (x / lx - 0.5)
                  + k[3] * ((y / ly - 0.5) ** 2 + (x / lx - 0.5) ** 2))
    img *= bias
    gaussian_filter1d(img, 0.6, axis=1, output=img, truncate=3.0)
    gaussian_filter1d(img, 0.6, axis=2, output=img, truncate=3.0)
    sigma = np.float32(rng.uniform(0.015, 0.04))
    n1 = rng.standard_normal(shape, dtype=np.float32) * sigma
    n2 = rng.standard_normal(shape, dtype=np.float32) * sigma
    img = np.sqrt((img + n1) ** 2 + n2 ** 2)  # Rician magnitude noise
    img *= 1000.0
    np.clip(img, 0, 32767, out=img)
    return Phantom(image=np.rint(img).astype(np.int16), label=label, spacing=spacing,
                   origin=origin, modality="MR", lesions=lesions, seed=seed)
