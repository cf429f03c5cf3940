"""Write a trained network as a MONAI bundle with its provenance in metadata.json."""

from __future__ import annotations

import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import monai
import torch

from inference.bundle import Bundle, write_bundle


def export_bundle(
    base: Bundle,
    state_dict: dict[str, torch.Tensor],
    out_dir: Path,
    *,
    metrics: dict[str, Any],
    train_ids: list[str],
    val_ids: list[str],
    parent_version: str | None,
    command: str | None,
    training: dict[str, Any] | None = None,
    version: str | None = None,
    name: str | None = None,
) -> Path:
    now = datetime.now(UTC)
    meta = dict(base.metadata)
    meta.update({
        "name": name or base.name,
        "version": version or f"{base.version.split('+')[0]}+ft{now:%Y%m%d%H%M%S}",
        "parent_version": parent_version,
        "created_at": now.isoformat(timespec="seconds"),
        "monai_version": monai.__version__,
        "pytorch_version": torch.__version__.split("+")[0],
        "python_version": platform.python_version(),
        "data_snapshot": {"train": sorted(train_ids), "validation": sorted(val_ids)},
        "metrics": metrics,
        "command": command,
        "training": training or {},
    })
    # A second detection stage is not retrained here: it travels with the bundle unchanged.
    second = base.second_stage.state_dict if base.second_stage is not None else None
    return write_bundle(out_dir, metadata=meta, config=base.config, state_dict=state_dict,
                        second_stage_state=second)
