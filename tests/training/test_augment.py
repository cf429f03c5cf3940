"""BalancedCropsd: crops where the indices say, inside the volume, reproducible by seed."""

from __future__ import annotations

import numpy as np
import torch
from monai.data import MetaTensor

from training.augment import BalancedCropsd, crop_start


def _item() -> dict:
    image = torch.arange(30 * 40 * 50, dtype=torch.float32).reshape(1, 30, 40, 50) / 1e5
    label = torch.zeros(1, 30, 40, 50, dtype=torch.uint8)
    label[0, 3:6, 4:7, 5:8] = 1  # a lesion near a corner: crops there must shift inwards
    fg = np.flatnonzero(label[0].numpy().ravel())
    bg = np.ravel_multi_index(([25], [30], [40]), (30, 40, 50))  # one far background voxel
    return {"image": MetaTensor(image), "label": MetaTensor(label), "label_fg": fg,
            "label_bg": bg}


def test_crop_start_stays_inside() -> None:
    assert crop_start(20, 16, 50) == 12
    assert crop_start(3, 16, 50) == 0
    assert crop_start(48, 16, 50) == 34
    assert crop_start(5, 16, 10) == 0  # smaller than the window: start at 0


def test_positive_crops_hold_the_lesion_and_negative_ones_do_not() -> None:
    item = _item()
    t = BalancedCropsd((16, 16, 16), num_samples=40, pos=0.5, flip_prob=0.0, intensity_prob=0.0)
    t.set_random_state(seed=0)
    crops = t(item)
    assert len(crops) == 40
    n_pos = 0
    for c in crops:
        assert c["image"].shape == c["label"].shape == (1, 16, 16, 16)
        assert not isinstance(c["image"], MetaTensor)
        # unaugmented crops are the source voxels: find where the window starts
        first = int(round(float(c["image"][0, 0, 0, 0]) * 1e5))
        z, y, x = np.unravel_index(first, (30, 40, 50))
        src = item["image"].as_tensor()[0, z:z + 16, y:y + 16, x:x + 16]
        assert torch.equal(c["image"][0], src)
        if c["label"].any():
            n_pos += 1
            assert (z, y, x) == (0, 0, 0)  # the corner lesion pulls the window to the edge
        else:
            assert (z, y, x) == (14, 22, 32)  # the background voxel at (25, 30, 40)
    assert 10 <= n_pos <= 30


def test_flip_and_intensity_and_seed() -> None:
    item = _item()
    t = BalancedCropsd((16, 16, 16), num_samples=8, pos=1.0, flip_prob=1.0, intensity_prob=0.0)
    t.set_random_state(seed=1)
    src = item["image"].as_tensor()[0, :16, :16, :16]
    for c in t(item):
        assert torch.equal(c["image"][0], src.flip(-1))
        assert torch.equal(c["label"][0], item["label"].as_tensor()[0, :16, :16, :16].flip(-1))

    t = BalancedCropsd((16, 16, 16), num_samples=8, pos=1.0, flip_prob=0.0, intensity_prob=1.0)
    t.set_random_state(seed=2)
    a = t(item)
    for c in a:
        ratio = (c["image"][0] - c["image"][0, 0, 0, 0]) / (src - src[0, 0, 0]).clamp(min=1e-9)
        k = float(ratio[1:, 1:, 1:].mean())
        assert 0.95 <= k <= 1.05 and k != 1.0  # scaled by 1 + U(-0.05, 0.05)
    t.set_random_state(seed=2)
    b = t(item)
    assert all(torch.equal(x["image"], y["image"]) for x, y in zip(a, b, strict=True))
