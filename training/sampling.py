"""Where training crops are centred: lesions by a capped share, and background that looks like lesion.

Sampling lesion voxels uniformly centres most crops on the largest nodule (a 30 mm nodule has
400x the voxels of a 4 mm one), and sampling background uniformly mostly shows the network air
and soft tissue it already gets right. The mistakes a lesion model makes are on structures with
a lesion's intensity and sharp local contrast: vessels and the pleura in a lung, sulci and
vessels in a brain. So crop centres are drawn from up to `per_lesion` voxels of each connected
lesion (lesions of at least that many voxels equally, smaller ones in proportion to their size)
and, for `hard_share` of the background crops, from such look-alike voxels. Giving every lesion
an equal share instead (small ones' voxels repeated) made the chest model more cautious, not
more sensitive (BENCHMARKS.md, sixth session).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
import torch
from monai.transforms import MapTransform
from scipy import ndimage

from inference.candidates import CONNECTIVITY  # lesions are 26-connected, as at inference

MAX_BACKGROUND = 40_000  # centres kept per case: plenty of variety, bounded memory


def lesion_centres(label: np.ndarray, per_lesion: int, rng: np.random.Generator) -> np.ndarray:
    """Flat indices: up to `per_lesion` voxels from each connected lesion."""
    comps, n = ndimage.label(label, structure=CONNECTIVITY)
    flat = comps.ravel()
    idx = np.flatnonzero(flat)
    ids = flat[idx]
    out = []
    for k in range(1, n + 1):
        own = idx[ids == k]
        out.append(own if own.size <= per_lesion else rng.choice(own, per_lesion, replace=False))
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def lookalike_mask(image: np.ndarray, label: np.ndarray, contrast: float) -> np.ndarray:
    """Background voxels inside the lesions' intensity range with local contrast above
    `contrast` (standard deviation over a 5-voxel cube, in the model's intensity units)."""
    if label.any():
        lo, hi = np.percentile(image[label], [2.0, 98.0])
    else:
        lo, hi = np.percentile(image, [50.0, 99.5])
    mean = ndimage.uniform_filter(image, size=5)
    sq = ndimage.uniform_filter(image * image, size=5)
    std = np.sqrt(np.maximum(sq - mean * mean, 0.0))
    return (~label) & (image >= lo) & (image <= hi) & (std > contrast)


def background_centres(image: np.ndarray, label: np.ndarray, hard_share: float, contrast: float,
                       rng: np.random.Generator) -> np.ndarray:
    """Flat indices of background voxels, `hard_share` of them lesion look-alikes."""
    bg = np.flatnonzero(~label.ravel())
    hard = np.flatnonzero(lookalike_mask(image, label, contrast).ravel()) if hard_share > 0 \
        else np.zeros(0, dtype=np.int64)
    if hard.size == 0:
        return bg if bg.size <= MAX_BACKGROUND else rng.choice(bg, MAX_BACKGROUND, replace=False)
    n_hard = min(hard.size, int(MAX_BACKGROUND * hard_share))
    n_easy = min(bg.size, int(round(n_hard * (1 - hard_share) / hard_share)))
    return np.concatenate([rng.choice(hard, n_hard, replace=False),
                           rng.choice(bg, n_easy, replace=False)])


class CropCentresd(MapTransform):
    """Adds `label_fg` / `label_bg` flat indices for `RandCropByPosNegLabeld` (cached once per
    case; seeded, so a resumed or repeated run draws the same centres)."""

    def __init__(self, per_lesion: int = 512, hard_share: float = 0.5, contrast: float = 0.05,
                 seed: int = 0) -> None:
        super().__init__(keys=["label"])
        self.per_lesion, self.hard_share, self.contrast, self.seed = (
            per_lesion, hard_share, contrast, seed)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        image = np.asarray(d["image"][0], dtype=np.float32)
        label = np.asarray(d["label"][0]) > 0
        rng = np.random.default_rng(self.seed)
        d["label_fg"] = torch.as_tensor(lesion_centres(label, self.per_lesion, rng))
        d["label_bg"] = torch.as_tensor(
            background_centres(image, label, self.hard_share, self.contrast, rng))
        return d
