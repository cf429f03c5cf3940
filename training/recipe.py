"""Fine-tuning settings and how a fine-tune inherits its base bundle's recipe.

Free of torch and MONAI, so the web process can validate a requested config without them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any


class RecipeError(ValueError):
    """A requested training setting has the wrong type or range."""


@dataclass
class FinetuneConfig:
    max_epochs: int = 10
    max_minutes: float | None = None
    lr: float = 1e-3
    batch_size: int = 2
    val_fraction: float = 0.2
    seed: int = 0
    roi_size: tuple[int, int, int] = (64, 64, 64)
    num_samples: int = 4  # crops per case per iteration
    pos_fraction: float = 0.5  # share of crops centred on lesion voxels
    per_lesion: int = 512  # crop centres per lesion at most: caps the share of large lesions
    hard_share: float = 0.5  # share of background crops on lesion look-alikes (vessels, pleura)
    contrast: float = 0.05  # local std (model intensity units) that makes a look-alike
    # Mirrors (each listed spatial axis, p=0.5) and in-plane axis swaps (p=transpose_prob) of
    # each crop: a lesion looks the same mirrored, and a small training set then shows the
    # network each lesion-on-wall or lesion-on-vessel configuration in up to 16 orientations.
    flip_axes: tuple[int, ...] = (2,)
    transpose_prob: float = 0.0
    # Share of crops from thinner-sliced scans re-sampled as if scanned at 2.0-2.5 mm slices
    # (`training.augment.thicken_slices`), for data whose slice thickness varies more than the
    # training set shows. Off in the chest recipe: at 0.35 it found fewer nodules on 2-2.5 mm
    # slices, not more (BENCHMARKS.md, ninth session).
    thick_slice_prob: float = 0.0
    num_workers: int = 0
    val_every: int = 1
    # torch.compile the training forward/backward (fuses norm, activation and residual adds:
    # 1.4x per iteration on an AVX2 CPU) at the price of ~1 min compiling; needs a C compiler.
    compile: bool = False


# What fine-tuning keeps from the run that trained its base bundle (metadata "training"): the
# crops, sampling and augmentation its weights and BatchNorm statistics were fitted to. Epochs,
# time, learning rate, seed and split stay the caller's; compiling is a property of the machine.
INHERITED = ("roi_size", "batch_size", "num_samples", "pos_fraction", "per_lesion", "hard_share",
             "contrast", "flip_axes", "transpose_prob", "thick_slice_prob")


_FIELDS = {f.name for f in fields(FinetuneConfig)}


def recipe_for(base_metadata: dict[str, Any], overrides: dict[str, Any] | None = None
               ) -> FinetuneConfig:
    """The config to fine-tune a base bundle: its recorded recipe for the `INHERITED` fields,
    FinetuneConfig's defaults for the rest, then `overrides` (unknown keys ignored).

    A recorded value of the wrong type or range is skipped (bundles come from users); a bad
    override, or crops the augmentation cannot use, raises RecipeError."""
    defaults = FinetuneConfig()
    recorded = base_metadata.get("training")
    if not isinstance(recorded, dict):
        recorded = {}
    kwargs: dict[str, Any] = {}
    for name in INHERITED:
        if name in recorded:
            try:
                kwargs[name] = _coerce(name, recorded[name], getattr(defaults, name))
            except (TypeError, ValueError):
                pass
    for name, value in (overrides or {}).items():
        if name in _FIELDS:
            try:
                kwargs[name] = _coerce(name, value, getattr(defaults, name))
            except (TypeError, ValueError) as exc:
                raise RecipeError(f"training config {name}={value!r}: {exc}") from exc
    config = replace(defaults, **kwargs)
    check_crop_augmentation(config.roi_size, config.flip_axes, config.transpose_prob)
    return config


def check_flip_axes(axes: tuple[int, ...]) -> None:
    if any(a not in (0, 1, 2) for a in axes):
        raise RecipeError(f"flip_axes are spatial axes 0-2, got {axes}")


def check_crop_augmentation(roi_size: tuple[int, ...], flip_axes: tuple[int, ...],
                            transpose_prob: float) -> None:
    """What `training.augment.BalancedCropsd` can do with a crop, checked without torch."""
    check_flip_axes(flip_axes)
    if transpose_prob > 0 and roi_size[1] != roi_size[2]:
        raise RecipeError(f"swapping in-plane axes needs a square crop, got {roi_size}")


def _coerce(name: str, value: Any, default: Any) -> Any:
    """`value` as the type of the field's default, range-checked where a wrong value would
    only fail deep inside training."""
    if name == "max_minutes":
        return None if value is None else _positive(float(value))
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise TypeError("expected true or false")
        return value
    if isinstance(default, tuple):
        if not isinstance(value, (list, tuple)):
            raise TypeError("expected a list")
        items = tuple(int(v) for v in value)
        if name == "roi_size" and (len(items) != 3 or min(items) < 8):
            raise ValueError("expected three sizes of at least 8")
        if name == "flip_axes":
            check_flip_axes(items)
        return items
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError("expected a number")
    number = type(default)(value)
    shares = ("pos_fraction", "hard_share", "transpose_prob", "thick_slice_prob", "val_fraction")
    if name in shares and not 0.0 <= number <= 1.0:
        raise ValueError("expected a share between 0 and 1")
    if name in ("max_epochs", "batch_size", "num_samples", "per_lesion", "val_every", "lr"):
        _positive(number)
    if name == "num_workers" and number < 0:
        raise ValueError("expected 0 or more")
    return number


def _positive(value: float) -> float:
    if not value > 0:
        raise ValueError("expected a positive number")
    return value
