"""A MONAI model-zoo style bundle (its own preprocessing and inferer sections) around the tiny
test network, for the inference and web tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from inference.bundle import write_bundle
from tests.tiny_net import TINY_NET

# Written the way zoo bundles lay out inference.json: a Compose of dictionary transforms with
# keys, a top-level value referenced with "@", device expressions Nodus never evaluates.
ZOO_CONFIG: dict[str, Any] = {
    "image_key": "image",
    "pixdim": [2.0, 2.0, 3.0],
    "device": "$torch.device('cuda:0' if torch.cuda.is_available() else 'cpu')",
    "network_def": TINY_NET,
    "preprocessing": {
        "_target_": "Compose",
        "transforms": [
            {"_target_": "LoadImaged", "keys": "@image_key"},
            {"_target_": "EnsureChannelFirstd", "keys": "@image_key"},
            {"_target_": "Orientationd", "keys": "@image_key", "axcodes": "RAS"},
            {"_target_": "Spacingd", "keys": "@image_key", "pixdim": "@pixdim",
             "mode": "bilinear"},
            {"_target_": "monai.transforms.ScaleIntensityRanged", "keys": "@image_key",
             "a_min": -57, "a_max": 164, "b_min": 0.0, "b_max": 1.0, "clip": True},
            {"_target_": "CropForegroundd", "keys": "@image_key", "source_key": "@image_key"},
            {"_target_": "EnsureTyped", "keys": "@image_key"},
        ],
    },
    "inferer": {"_target_": "SlidingWindowInferer", "roi_size": [32, 24, 16],
                "sw_batch_size": 2, "overlap": 0.5},
    "postprocessing": {"_target_": "Compose", "transforms": [
        {"_target_": "Activationsd", "keys": "pred", "softmax": True}]},
}


def zoo_bundle(root: Path, config: dict[str, Any] | None = None, modality: str = "CT") -> Path:
    from monai.bundle import ConfigParser

    torch.manual_seed(0)
    net = ConfigParser({"n": dict(TINY_NET)}).get_parsed_content("n")
    meta = {"name": "zoo_like", "version": "0.3.1", "network_data_format": {"inputs": {
        "image": {"type": "image", "modality": modality, "num_channels": 1}}}}
    return write_bundle(root, metadata=meta, config=config or ZOO_CONFIG,
                        state_dict=net.state_dict())
