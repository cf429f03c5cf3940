"""run_inference end to end: progress, candidates on the input grid, the starter model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser

from inference import Volume, load_bundle, run_inference
from inference.candidates import extract_candidates
from inference.engine import fast_layout, foreground_probability
from tests.tiny_net import TINY_NET
from training.phantoms import brain_mr, chest_ct

BUNDLES = Path(__file__).resolve().parents[2] / "inference" / "bundles"
STARTER = BUNDLES / "chest-ct-nodules"
MR_STARTER = BUNDLES / "brain-mr-lesions"


def test_candidates_from_a_known_probability_map() -> None:
    prob = np.zeros((10, 20, 20), np.float32)
    prob[2:5, 2:5, 2:5] = 0.9  # 27 voxels
    prob[3, 3, 3] = 0.99
    prob[7:9, 10:18, 10:12] = 0.6  # 32 voxels
    prob[0, 19, 19] = 0.8  # a single voxel below min volume
    label, cands = extract_candidates(prob, (1.0, 1.0, 1.0), lambda c: (c[2], c[1], c[0]),
                                      threshold=0.5, min_volume_mm3=2.0)
    assert [c.label for c in cands] == [1, 2]
    first, second = cands
    assert first.probability_max == 0.99 and first.volume_mm3 == 27.0
    assert first.bbox == (2, 2, 2, 5, 5, 5) and first.centroid_voxel == (3.0, 3.0, 3.0)
    assert second.probability_mean == 0.6 and second.volume_mm3 == 32.0
    assert (label == 1).sum() == 27 and (label == 2).sum() == 32 and label[0, 19, 19] == 0


def test_progress_is_monotonic_and_label_on_input_grid(tiny_bundle: Path) -> None:
    ph = chest_ct(4, size=48, slices=12, n_lesions=1)
    vol = Volume(ph.image.astype(np.float32), ph.spacing, ph.origin)
    seen: list[tuple[float, str]] = []
    result = run_inference(load_bundle(tiny_bundle), vol, on_progress=lambda f, s:
                           seen.append((f, s)))
    assert result.label.shape == vol.shape and result.label.dtype == np.uint8
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert {"preprocess", "inference", "postprocess", "done"} <= {s for _, s in seen}
    for c in result.candidates:
        assert (result.label == c.label).sum() * np.prod(vol.spacing) == pytest.approx(
            c.volume_mm3, rel=1e-3)


def test_min_probability_drops_candidates_below_the_operating_point(
        tmp_path: Path, bundle_factory) -> None:
    ph = chest_ct(4, size=48, slices=12, n_lesions=1)
    vol = Volume(ph.image.astype(np.float32), ph.spacing, ph.origin)
    every = run_inference(load_bundle(bundle_factory(tmp_path / "all", config_extra={
        "threshold": 0.3})), vol)
    assert every.candidates, "the random tiny net should leave some components above 0.3"
    peaks = sorted(c.probability_max for c in every.candidates)
    # (reported probabilities are rounded: keep the floor well away from any of them)
    floor = (peaks[0] + peaks[-1]) / 2 if peaks[-1] - peaks[0] > 0.01 else peaks[-1] + 0.005
    kept = run_inference(load_bundle(bundle_factory(tmp_path / "floor", config_extra={
        "threshold": 0.3, "min_probability": floor})), vol)
    assert [c.probability_max >= floor for c in kept.candidates] == [True] * len(kept.candidates)
    assert len(kept.candidates) == sum(p >= floor for p in peaks) < len(every.candidates)
    assert set(np.unique(kept.label)) == {0, *range(1, len(kept.candidates) + 1)}


@pytest.mark.skipif(not STARTER.exists(), reason="starter bundle not trained yet")
def test_starter_model_finds_the_big_nodule(tmp_path: Path) -> None:
    ph = chest_ct(424242, size=128, slices=48, n_lesions=1, min_diameter_mm=12.0)
    lesion = ph.lesions[0]
    vol = Volume(ph.image.astype(np.float32), ph.spacing, ph.origin)
    result = run_inference(load_bundle(STARTER), vol)
    hits = [c for c in result.candidates
            if np.linalg.norm(np.subtract(c.centroid_mm, lesion.center_mm)) < lesion.diameter_mm]
    assert hits, f"nodule {lesion} not found in {result.candidates}"
    assert hits[0].detector == "network"  # a 12 mm nodule is the network's, not the blob stage's
    assert "second_stage" in result.timings  # the committed chest bundle has both stages
    # Detection only: the chest starter's segmentation quality is below the bar (BENCHMARKS.md).
    assert ((result.label == hits[0].label) & (ph.label > 0)).sum() > 0


@pytest.mark.skipif(not MR_STARTER.exists(), reason="starter bundle not trained yet")
def test_mr_starter_model_segments_the_big_lesion() -> None:
    ph = brain_mr(424242, size=96, slices=64, n_lesions=1, min_diameter_mm=14.0)
    vol = Volume(ph.image.astype(np.float32), ph.spacing, ph.origin)
    result = run_inference(load_bundle(MR_STARTER), vol)
    truth = ph.label > 0
    pred = result.label > 0
    assert 2 * (pred & truth).sum() / (pred.sum() + truth.sum()) > 0.75


def test_cli_run_writes_label_and_candidates(tiny_bundle: Path, tmp_path: Path) -> None:
    from training.phantoms import write_dicom_series

    ph = chest_ct(6, size=40, slices=8, n_lesions=1)
    write_dicom_series(ph, tmp_path / "dicom", patient_id="P", patient_name="X")
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "inference", "run", "--bundle", str(tiny_bundle),
                           "--input", str(tmp_path / "dicom"), "--out", str(out)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert (out / "label.nii.gz").exists()
    assert "candidates" in json.loads((out / "candidates.json").read_text())
    bad = subprocess.run([sys.executable, "-m", "inference", "validate", "--bundle",
                          str(tmp_path / "nope")], capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and "BundleError" in bad.stderr


def test_precision_follows_the_device_and_the_cpu_override(monkeypatch: pytest.MonkeyPatch) -> None:
    from inference.engine import autocast_for, cpu_bf16, precision_for

    assert precision_for(torch.device("cuda")) == "float16"
    for forced, expected in (("1", "bfloat16"), ("0", "float32")):
        monkeypatch.setenv("NODUS_CPU_BF16", forced)
        cpu_bf16.cache_clear()
        try:
            assert precision_for(torch.device("cpu")) == expected
            with autocast_for(torch.device("cpu")):
                y = torch.nn.functional.linear(torch.ones(2, 4), torch.ones(3, 4))
            assert y.dtype == getattr(torch, expected)
        finally:
            cpu_bf16.cache_clear()


def test_windows_are_stitched_on_the_gpu_only_when_the_result_fits(monkeypatch: pytest.MonkeyPatch
                                                                   ) -> None:
    from inference.engine import output_device

    cuda = torch.device("cuda")
    voxels = 375 * 401 * 401  # the 512x512x300 CT on the 1 mm model grid: ~1.4 GB to stitch
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda _d=None: (80 << 30, 80 << 30))
    assert output_device(cuda, voxels, 2) == cuda
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda _d=None: (4 << 30, 80 << 30))
    assert output_device(cuda, voxels, 2) == torch.device("cpu")  # a busy card: stitch on host
    assert output_device(torch.device("cpu"), voxels, 2) == torch.device("cpu")


@pytest.mark.parametrize("channels", [1, 2, 3])
def test_foreground_probability_matches_softmax_or_sigmoid_and_reuses_the_logits(
        channels: int) -> None:
    torch.manual_seed(0)
    logits = torch.randn(1, channels, 6, 7, 8) * 4
    expected = (torch.sigmoid(logits) if channels == 1
                else torch.softmax(logits, dim=1)[:, 1:2]).clone()
    before = logits.untyped_storage().data_ptr()
    prob = foreground_probability(logits)
    assert prob.shape == (1, 1, 6, 7, 8)
    assert torch.allclose(prob, expected, atol=1e-6)
    # one and two channels are computed in the logits' own buffer (no second 0.5 GB map)
    assert (prob.untyped_storage().data_ptr() == before) == (channels <= 2)


def test_the_cpu_is_named_with_its_widest_vector_instructions(monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    from inference import engine

    info = ("processor\t: 0\nmodel name\t: AMD EPYC\n"
            "flags\t\t: fpu sse2 avx avx2 fma avx512f avx512_bf16 avx512vl\n")
    assert engine.cpu_vector_isa(info) == "avx512_bf16"
    assert engine.cpu_vector_isa(info.replace(" avx512f avx512_bf16", "")) == "avx2"
    assert engine.cpu_vector_isa("model name\t: M2\n") == ""
    monkeypatch.setattr(engine, "_cpuinfo", lambda: info)
    assert engine.cpu_name() == "AMD EPYC (avx512_bf16)"
    monkeypatch.delenv("NODUS_CPU_BF16", raising=False)  # the same flags decide the precision
    for flags, native in ((info, True), (info.replace(" avx512_bf16", ""), False)):
        monkeypatch.setattr(engine, "_cpuinfo", lambda flags=flags: flags)
        engine.cpu_bf16.cache_clear()
        try:
            assert engine.cpu_bf16() is (native and torch.backends.mkldnn.is_available())
        finally:
            engine.cpu_bf16.cache_clear()
    monkeypatch.setattr(engine, "_cpuinfo", lambda: "")
    assert engine.cpu_name()  # what platform knows, never empty


def test_results_reach_the_host_as_a_view_on_cpu() -> None:
    from inference.engine import to_host

    t = torch.rand(3, 4, 5)
    arr = to_host(t)
    assert np.shares_memory(arr, t.numpy()) and np.array_equal(arr, t.numpy())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (bench/gpu_checks.sh)")
def test_cuda_results_reach_the_host_through_page_locked_memory() -> None:
    from inference.engine import to_host

    t = torch.rand(7, 33, 65, device="cuda")
    arr = to_host(t)
    assert arr.dtype == np.float32 and np.array_equal(arr, t.cpu().numpy())
    assert torch.from_numpy(arr).is_pinned()


def test_fast_layout_converts_3d_weights_on_cpu_and_cuda_only_and_keeps_the_output(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NODUS_CHANNELS_LAST", raising=False)
    torch.manual_seed(0)
    net = ConfigParser({"n": dict(TINY_NET)}).get_parsed_content("n").eval()
    x = torch.rand(1, 1, 32, 32, 32)
    with torch.inference_mode():
        before = net(x)
    conv = [p for p in net.parameters() if p.dim() == 5]
    assert conv and not any(p.is_contiguous(memory_format=torch.channels_last_3d)
                            for p in conv if p.shape[1] > 1)
    assert fast_layout(net, torch.device("cpu")) is net
    assert all(p.is_contiguous(memory_format=torch.channels_last_3d) for p in conv)
    with torch.inference_mode():
        assert torch.allclose(net(x), before, atol=1e-5)
    flat = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Conv2d(4, 4, 3))
    fast_layout(flat, torch.device("cpu"))  # 2D weights: no 3D layout to take
    assert all(p.is_contiguous() for p in flat.parameters())
    plain = ConfigParser({"n": dict(TINY_NET)}).get_parsed_content("n")
    fast_layout(plain, torch.device("meta"))  # neither CPU nor CUDA: left as built
    assert all(p.is_contiguous() for p in plain.parameters())
    # the layout is decided by the target device's type (the caller moves the net there)
    fast_layout(plain, torch.device("cuda"))
    assert all(p.is_contiguous(memory_format=torch.channels_last_3d)
               for p in plain.parameters() if p.dim() == 5)


@pytest.mark.parametrize(("forced", "device", "converted"),
                         [("0", "cpu", False), ("0", "cuda", False), ("1", "meta", True)])
def test_fast_layout_follows_the_environment_override(monkeypatch: pytest.MonkeyPatch, forced: str,
                                                      device: str, converted: bool) -> None:
    monkeypatch.setenv("NODUS_CHANNELS_LAST", forced)
    net = ConfigParser({"n": dict(TINY_NET)}).get_parsed_content("n")
    fast_layout(net, torch.device(device))
    wide = [p for p in net.parameters() if p.dim() == 5 and p.shape[1] > 1]
    assert wide and all(p.is_contiguous(memory_format=torch.channels_last_3d) == converted
                        for p in wide)
