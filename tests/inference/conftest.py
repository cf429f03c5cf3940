from __future__ import annotations

from pathlib import Path

import pytest
import torch

from inference.bundle import write_bundle
from tests.tiny_net import TINY_NET


def make_bundle(root: Path, *, network: dict | None = None, config_extra: dict | None = None,
                metadata: dict | None = None) -> Path:
    from monai.bundle import ConfigParser

    net_def = network or TINY_NET
    torch.manual_seed(0)
    net = ConfigParser({"n": dict(net_def)}).get_parsed_content("n")
    config = {"network_def": net_def, "target_spacing": [2.0, 2.0, 2.0], "roi_size": [32, 32, 32],
              **(config_extra or {})}
    return write_bundle(root, metadata=metadata or {"name": "tiny", "version": "0.1.0"},
                        config=config, state_dict=net.state_dict())


@pytest.fixture
def bundle_factory():
    return make_bundle


@pytest.fixture
def tiny_bundle(tmp_path: Path) -> Path:
    return make_bundle(tmp_path / "tiny")
