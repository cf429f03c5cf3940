"""run_inference: bundle + volume -> label map on the input grid + lesion candidates."""

from __future__ import annotations

import functools
import math
import os
import platform
import re
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.inferers import sliding_window_inference
from scipy import ndimage

from .bundle import Bundle
from .candidates import CONNECTIVITY, Candidate, Component, components_in, paint_candidates
from .errors import InferenceCancelled, InvalidVolumeError
from .grid import (
    GridMap,
    coarse_to_fine_slices,
    map_box_back,
    map_index_back,
    merge_boxes,
    resample_region,
)
from .second_stage import add_findings, mark_second_stage
from .transforms import model_axes_for, prepare
from .volume import MAX_VOXELS, Volume, validate_volume

ProgressFn = Callable[[float, str], None]
CancelFn = Callable[[], bool]

_PRE, _SWI = 0.1, 0.9  # progress fraction reached after preprocessing / the network


@dataclass
class InferenceResult:
    label: np.ndarray  # (z, y, x) uint8 on the input grid; candidate k painted with k
    candidates: list[Candidate]
    model_name: str
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_name": self.model_name,
            "seconds": round(self.seconds, 3),
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "candidates": [c.to_dict() for c in self.candidates],
        }


def pick_device(device: str | None) -> torch.device:
    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def precision_for(device: torch.device) -> str:
    """Compute precision on `device`: float16 on CUDA, bfloat16 on CPUs with native bfloat16
    instructions, float32 elsewhere."""
    if device.type == "cuda":
        return "float16"
    return "bfloat16" if device.type == "cpu" and cpu_bf16() else "float32"


def autocast_for(device: torch.device) -> Any:
    """Mixed precision as `precision_for` names it (none for float32)."""
    precision = precision_for(device)
    if precision == "float32":
        return nullcontext()
    return torch.autocast(device.type, dtype=getattr(torch, precision))


@functools.cache
def cpu_bf16() -> bool:
    """Whether CPU convolutions run in bfloat16: 2-4x faster where the CPU has AVX512-BF16 or
    AMX, emulated (slower) elsewhere. NODUS_CPU_BF16=0/1 overrides the detection."""
    forced = os.environ.get("NODUS_CPU_BF16", "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    return cpu_vector_isa() in ("amx_bf16", "avx512_bf16") and torch.backends.mkldnn.is_available()


def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text(errors="ignore")
    except OSError:
        return ""


def cpu_name() -> str:
    """The CPU's model name (Linux /proc/cpuinfo), else what `platform` knows, with its widest
    vector instructions: timings in bundles and benchmarks name the machine class they were
    taken on, and "AMD EPYC" alone covers 2-core VMs 4x apart in convolution speed."""
    info = _cpuinfo()
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines()
                 if line.startswith("model name")), "") or platform.processor() or \
        platform.machine()
    isa = cpu_vector_isa(info)
    return f"{name} ({isa})" if isa else name


def cpu_vector_isa(info: str | None = None) -> str:
    """The widest of the vector extensions that set CPU convolution speed, from /proc/cpuinfo
    flags: amx_bf16 > avx512_bf16 > avx512f > avx2 ("" when none is listed or not Linux)."""
    flags = set(re.findall(r"[a-z0-9_]+", " ".join(
        line.split(":", 1)[1] for line in (_cpuinfo() if info is None else info).splitlines()
        if line.startswith("flags") and ":" in line)))
    return next((isa for isa in ("amx_bf16", "avx512_bf16", "avx512f", "avx2") if isa in flags), "")


def count_windows(shape: tuple[int, ...], roi: tuple[int, ...], overlap: float) -> int:
    """Number of windows monai's sliding_window_inference visits (same scan rule)."""
    n = 1
    for size, r in zip(shape, roi, strict=True):
        if size <= r:
            continue
        interval = max(int(r * (1 - overlap)), 1)
        n *= math.ceil((size - r) / interval) + 1
    return n


class _Predictor:
    """Wraps the network: progress per window batch and a cancellation point."""

    def __init__(self, net: torch.nn.Module, total: int, report: ProgressFn,
                 should_cancel: CancelFn | None) -> None:
        self.net, self.total = net, max(total, 1)
        self.report, self.should_cancel, self.done = report, should_cancel, 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.should_cancel is not None and self.should_cancel():
            raise InferenceCancelled("inference cancelled")
        out = self.net(x)
        self.done += x.shape[0]
        self.report(_PRE + (_SWI - _PRE) * min(self.done / self.total, 1.0), "inference")
        return out


def foreground_probability(logits: torch.Tensor, channels: list[int] | None = None,
                           activation: str = "softmax") -> torch.Tensor:
    """(B, C, ...) logits -> (B, 1, ...) lesion probability: sigmoid of a one-channel network,
    the largest sigmoid of `channels` for a multi-label one, else the softmax summed over
    `channels` (default: channel 1). One- and two-class results are computed in place:
    `logits` is consumed (float32 logits of a 512x512x300 CT are ~0.5 GB)."""
    logits = logits.float()
    if logits.shape[1] == 1:
        return logits.sigmoid_()
    if activation == "sigmoid":
        return logits[:, channels or [0]].sigmoid_().amax(dim=1, keepdim=True)
    channels = channels or [1]
    if logits.shape[1] == 2 and channels == [1]:
        # softmax's foreground channel is sigmoid(l1 - l0): no second buffer, twice as fast
        return logits[:, 1:2].sub_(logits[:, 0:1]).sigmoid_()
    return torch.softmax(logits, dim=1)[:, channels].sum(dim=1, keepdim=True)


def fast_layout(net: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """The network with channels-last 3D weights on the CPU and on CUDA, where the convolutions
    run faster in that layout: oneDNN 1.45x on a 2-core AVX2 CPU (144^3 window 0.68 -> 0.46 s),
    cuDNN 1.4x on an H100 in float16 (bare sliding window over a 512x512x300 CT 0.15-0.17 ->
    0.11 s). Converted in place, once; networks with 2D weights keep theirs, other devices are
    left as built. NODUS_CHANNELS_LAST=0 turns it off, =1 forces it."""
    forced = os.environ.get("NODUS_CHANNELS_LAST", "").strip()
    wanted = forced == "1" if forced in ("0", "1") else device.type in ("cpu", "cuda")
    if wanted and all(p.dim() != 4 for p in net.parameters()):
        net.to(memory_format=torch.channels_last_3d)  # type: ignore[call-overload]
    return net


def predict_probability(bundle: Bundle, image: torch.Tensor, device: torch.device,
                        predictor: Callable[[torch.Tensor], torch.Tensor] | None = None
                        ) -> np.ndarray:
    """Sliding-window foreground probability for a (1, z, y, x) preprocessed image (canonical
    order; turned to the model's own axes and back when it was trained on others)."""
    p = bundle.params
    roi = tuple(int(v) for v in p["roi_size"])
    axes = model_axes_for(p)
    x = image if axes.identity else axes.apply_tensor(image).contiguous()
    net = fast_layout(bundle.network.to(device).eval(), device)
    out_device = output_device(device, image.numel(), bundle.out_channels)
    with torch.inference_mode(), autocast_for(device):
        try:
            logits = sliding_window_inference(
                x[None].to(device), roi, int(p["sw_batch_size"]), predictor or net,
                overlap=float(p["sw_overlap"]), mode=str(p["sw_mode"]), sw_device=device,
                device=out_device)
        except RuntimeError as exc:  # e.g. a channel mismatch inside the network
            raise InvalidVolumeError(f"model failed on this volume: {exc}") from exc
        prob = foreground_probability(torch.as_tensor(logits), p.get("foreground_channels"),
                                      str(p.get("activation", "softmax")))[0, 0]
        if not axes.identity:
            prob = axes.undo_tensor(prob).contiguous()
    return to_host(prob)


def to_host(t: torch.Tensor) -> np.ndarray:
    """`t` as a NumPy array: a view of a CPU tensor; from CUDA through page-locked memory,
    which PyTorch's host allocator keeps for the next scan. The 240 MB probability map of a
    512x512x300 CT leaves an H100 in 5 ms that way, in 0.1-0.2 s through pageable memory."""
    if t.device.type != "cuda":
        return t.cpu().numpy()
    host = torch.empty(t.shape, dtype=t.dtype, pin_memory=True)
    host.copy_(t)
    return host.numpy()


def output_device(device: torch.device, voxels: int, channels: int) -> torch.device:
    """Where sliding-window results are stitched: on the GPU when the logits, the weight map and
    the softmax fit in a quarter of its free memory, so that only the probability map reaches
    the worker's RAM (~0.7 GB less for a 512x512x300 CT; as fast as stitching on the host),
    on the host otherwise."""
    if device.type != "cuda":
        return torch.device("cpu")
    need = voxels * 4 * (2 * channels + 2)  # float32 logits + softmax, count map, probability
    free, _total = torch.cuda.mem_get_info(device)
    return device if need * 4 <= free else torch.device("cpu")


def invert_components(prob: np.ndarray, grid: GridMap, *, threshold: float,
                      min_voxels: int) -> list[Component]:
    """Components of the probability resampled back to the input grid, computed exactly but only
    where it can reach `threshold`: a trilinear sample never exceeds its coarse neighbours, so
    every fine voxel above threshold lies next to a coarse one above it."""
    boxes = [coarse_to_fine_slices(box, grid) for box in _boxes_above(prob >= threshold)]
    comps: list[Component] = []
    for box in merge_boxes(boxes):
        fine = resample_region(prob, grid, box)
        comps += components_in(fine, (box[0].start, box[1].start, box[2].start),
                               threshold=threshold, min_voxels=min_voxels)
    return comps


_BLOCK = 8  # coarse voxels per block side when locating the regions above threshold


def _boxes_above(mask: np.ndarray) -> list[tuple[slice, slice, slice]]:
    """Boxes (padded by one voxel) around connected groups of 8^3 blocks that hold a True voxel.

    Labelling blocks instead of voxels costs ~0.05 s instead of ~2 s (dilate + label) on a
    60 M-voxel model grid; the boxes are supersets, and fine voxels next to two groups are kept
    together because groups closer than one block are one group."""
    occupied = mask
    for axis in range(3):
        occupied = np.logical_or.reduceat(occupied, np.arange(0, mask.shape[axis], _BLOCK),
                                          axis=axis)
    labels, _ = ndimage.label(occupied, structure=CONNECTIVITY)
    out = []
    for sl in ndimage.find_objects(labels):
        if sl is None:
            continue
        box = tuple(slice(max(s.start * _BLOCK - 1, 0), min(s.stop * _BLOCK + 1, n))
                    for s, n in zip(sl, mask.shape, strict=True))
        out.append((box[0], box[1], box[2]))
    return out


def run_inference(
    bundle: Bundle,
    volume: Volume,
    *,
    on_progress: ProgressFn | None = None,
    should_cancel: CancelFn | None = None,
    device: str | None = None,
    max_voxels: int = MAX_VOXELS,
) -> InferenceResult:
    t0 = time.perf_counter()
    timings: dict[str, float] = {}

    def report(fraction: float, stage: str) -> None:
        if on_progress is not None:
            on_progress(float(min(max(fraction, 0.0), 1.0)), stage)

    def checkpoint() -> None:
        if should_cancel is not None and should_cancel():
            raise InferenceCancelled("inference cancelled")

    validate_volume(volume, max_voxels=max_voxels)
    report(0.0, "preprocess")
    checkpoint()
    params = bundle.params
    # The stitched logits hold one float per output channel and voxel: the limit is sized for a
    # two-class network and shrinks for more classes (a 105-class zoo network on a whole CT
    # would otherwise ask for tens of GB).
    grid_limit = max_voxels * 2 // max(2, bundle.out_channels)
    try:
        prep = prepare(volume, params, max_voxels=grid_limit)
    except InvalidVolumeError as exc:
        if grid_limit == max_voxels:
            raise
        raise InvalidVolumeError(f"{exc} (a network with {bundle.out_channels} output channels "
                                 "needs that much more memory per voxel)") from exc
    timings["preprocess"] = time.perf_counter() - t0
    report(_PRE, "inference")
    checkpoint()

    t1 = time.perf_counter()
    dev = pick_device(device)
    roi = tuple(int(v) for v in params["roi_size"])
    total = count_windows(tuple(prep.image.shape[1:]), roi, float(params["sw_overlap"]))
    predictor = _Predictor(bundle.network.to(dev), total, report, should_cancel)
    prob = predict_probability(bundle, prep.image, dev, predictor)
    timings["sliding_window"] = time.perf_counter() - t1
    threshold = float(params["threshold"])
    second: list[np.ndarray] = []
    if bundle.second_stage is not None:
        report(_SWI, "second stage")
        checkpoint()
        t_ss = time.perf_counter()
        second = add_findings(bundle.second_stage, prep.image[0].numpy(), prob,
                              threshold=threshold, device=dev, autocast=autocast_for(dev),
                              timings=timings)
        timings["second_stage"] = time.perf_counter() - t_ss
    report(_SWI, "postprocess")
    checkpoint()

    t2 = time.perf_counter()
    canon = prep.canonical
    min_voxels = max(1, int(np.ceil(float(params["min_component_mm3"])
                                    / float(np.prod(canon.spacing)))))
    comps = invert_components(prob, prep.grid, threshold=threshold, min_voxels=min_voxels)
    floor = float(params["min_probability"])
    comps = [c for c in comps if c.probability_max >= floor]
    label_c, cands = paint_candidates(comps, canon.shape, canon.spacing, canon.voxel_to_mm)
    mark_second_stage(cands, label_c, second, prep.grid)
    ro = prep.reorientation
    label = np.ascontiguousarray(ro.undo(label_c))
    for c in cands:  # report positions in the caller's array order
        c.centroid_voxel = tuple(round(v, 2) for v in map_index_back(  # type: ignore[assignment]
            ro, c.centroid_voxel, volume.shape))
        c.bbox = map_box_back(ro, c.bbox, volume.shape)
    timings["invert_and_candidates"] = time.perf_counter() - t2
    report(1.0, "done")
    return InferenceResult(label=label, candidates=cands, model_name=f"{bundle.name}:"
                           f"{bundle.version}", seconds=time.perf_counter() - t0, timings=timings)
