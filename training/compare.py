"""Two bundles side by side: does a documented command re-make a committed bundle, and where
do two versions of a model differ?

    python -m training compare inference/bundles/chest-ct-nodules /tmp/chest-ct-nodules

Exit status as `cmp`'s: 0 the same (configuration and every weight), 1 different, 2 an error.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from inference.bundle import Bundle, load_bundle

# Settings that change what a bundle computes: its networks and the parameters read from
# inference.json (metadata, which records times and the command, may differ freely).
_CONFIG_KEYS = ("network_def", "second_stage")
# The headline held-out figures a starter's metadata records, shown side by side.
_SUMMARY = ("dice", "sensitivity", "fp_per_scan", "sensitivity_at_1fp", "cpm", "n_cases",
            "n_lesions", "eval_seeds")


@dataclass
class WeightsDiff:
    tensors: int  # compared by name
    differing: list[str] = field(default_factory=list)  # same name and shape, other values
    unmatched: list[str] = field(default_factory=list)  # in one only, or of another shape/dtype
    max_abs_diff: float = 0.0  # over the differing tensors

    @property
    def identical(self) -> bool:
        return not self.differing and not self.unmatched


def compare_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> WeightsDiff:
    diff = WeightsDiff(tensors=len(set(a) | set(b)))
    for name in sorted(set(a) | set(b)):
        x, y = a.get(name), b.get(name)
        if x is None or y is None or x.shape != y.shape or x.dtype != y.dtype:
            diff.unmatched.append(name)
        elif not torch.equal(x, y):
            diff.differing.append(name)
            if x.is_floating_point():
                gap = float((x.double() - y.double()).abs().max())
            else:
                gap = float((x.long() - y.long()).abs().max())
            diff.max_abs_diff = max(diff.max_abs_diff, gap)
    return diff


def _stage_weights(bundle: Bundle) -> dict[str, torch.Tensor] | None:
    return None if bundle.second_stage is None else bundle.second_stage.state_dict


def _held_out(bundle: Bundle) -> dict[str, Any] | None:
    """The held-out figures its metadata records (the headline ones), if any."""
    metrics = bundle.metadata.get("metrics")
    held = metrics.get("held_out") if isinstance(metrics, dict) else None
    return {k: held[k] for k in _SUMMARY if k in held} if isinstance(held, dict) else None


def compare_bundles(a: Path | str, b: Path | str) -> dict[str, Any]:
    """Both bundles loaded and validated, then compared: `identical` when the networks'
    definitions, the inference parameters and every weight tensor are equal."""
    first, second = load_bundle(a), load_bundle(b)
    report: dict[str, Any] = {"a": str(a), "b": str(b)}
    config_diff = sorted(k for k in {*_CONFIG_KEYS, *first.params, *second.params}
                         if _setting(first, k) != _setting(second, k))
    report["settings_differing"] = config_diff
    net = compare_weights(first.state_dict, second.state_dict)
    report["network"] = {**asdict(net), "identical": net.identical}
    stage_a, stage_b = _stage_weights(first), _stage_weights(second)
    if stage_a is None and stage_b is None:
        stage_same = True
        report["second_stage"] = None
    elif stage_a is None or stage_b is None:
        stage_same = False
        report["second_stage"] = {"only_in": "a" if stage_b is None else "b", "identical": False}
    else:
        stage = compare_weights(stage_a, stage_b)
        stage_same = stage.identical
        report["second_stage"] = {**asdict(stage), "identical": stage.identical}
    report["held_out"] = {"a": _held_out(first), "b": _held_out(second)}
    report["identical"] = not config_diff and net.identical and stage_same
    return report


def _setting(bundle: Bundle, key: str) -> Any:
    if key in _CONFIG_KEYS:
        return bundle.config.get(key)
    return bundle.params.get(key)
