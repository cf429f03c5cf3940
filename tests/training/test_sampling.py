"""Crop centres: each lesion equally often, background biased to lesion look-alikes."""

from __future__ import annotations

import numpy as np
import torch

from training.sampling import (
    CropCentresd,
    background_centres,
    lesion_centres,
    lookalike_mask,
)


def _scene() -> tuple[np.ndarray, np.ndarray]:
    """Dark 'lung' with a big and a small bright ball (lesions) and a bright tube (vessel);
    bright flat 'tissue' fills the last quarter (no contrast inside)."""
    z, y, x = np.mgrid[:40, :40, :40].astype(np.float32)
    image = np.full((40, 40, 40), 0.1, dtype=np.float32)
    label = np.zeros((40, 40, 40), dtype=bool)
    big = (z - 12) ** 2 + (y - 12) ** 2 + (x - 12) ** 2 <= 7 ** 2
    small = (z - 28) ** 2 + (y - 10) ** 2 + (x - 10) ** 2 <= 1.5 ** 2
    tube = ((y - 28) ** 2 + (x - 28) ** 2 <= 2 ** 2) & (z < 30)
    image[big | small | tube] = 0.7
    image[:, :, 34:] = 0.7  # flat tissue block
    label[big | small] = True
    return image, label


def test_every_lesion_gets_the_same_number_of_centres() -> None:
    image, label = _scene()
    g = np.mgrid[:40, :40, :40]
    small = (g[0] - 28) ** 2 + (g[1] - 10) ** 2 + (g[2] - 10) ** 2 <= 1.5 ** 2
    assert 10 < small.sum() < 30 < label.sum() - small.sum()
    idx = lesion_centres(label, per_lesion=30, rng=np.random.default_rng(0))
    assert label.ravel()[idx].all() and len(set(idx.tolist())) == len(idx)
    from_small = small.ravel()[idx]
    # 30 from the big ball (hundreds of voxels) and every voxel of the small one (fewer than 30)
    assert (~from_small).sum() == 30 and from_small.sum() == small.sum()
    assert len(lesion_centres(np.zeros_like(label), 10, np.random.default_rng(0))) == 0


def test_lookalikes_are_the_vessel_not_the_flat_tissue_nor_the_lesions() -> None:
    image, label = _scene()
    hard = lookalike_mask(image, label, contrast=0.05)
    assert not (hard & label).any()
    tube_axis = hard[5:25, 28, 28]
    assert tube_axis.all(), "the tube has the lesions' intensity and sharp contrast"
    assert not hard[:, 5:35, 37:].any(), "inside the flat block there is no contrast"
    assert not hard[image < 0.5].any(), "dark background is outside the lesion range"


def test_background_centres_mix_hard_and_random_in_the_asked_share() -> None:
    image, label = _scene()
    rng = np.random.default_rng(1)
    idx = background_centres(image, label, hard_share=0.5, contrast=0.05, rng=rng)
    hard = lookalike_mask(image, label, 0.05).ravel()
    assert not label.ravel()[idx].any()
    n_hard_drawn = int(hard.sum())
    share = hard[idx].mean()
    # half drawn from the look-alikes, half uniformly from all background (a few land on them too)
    assert 0.5 <= share < 0.5 + hard.mean() + 0.05 and len(idx) == 2 * n_hard_drawn
    uniform = background_centres(image, label, hard_share=0.0, contrast=0.05, rng=rng)
    assert hard[uniform].mean() < 0.1


def test_transform_adds_index_tensors_and_is_repeatable() -> None:
    image, label = _scene()
    data = {"image": torch.as_tensor(image)[None], "label": torch.as_tensor(label).float()[None]}
    a = CropCentresd(per_lesion=16, seed=3)(data)
    b = CropCentresd(per_lesion=16, seed=3)(data)
    assert torch.equal(a["label_fg"], b["label_fg"]) and torch.equal(a["label_bg"], b["label_bg"])
    assert a["label_fg"].dtype == torch.int64 and len(a["label_bg"]) > 0
