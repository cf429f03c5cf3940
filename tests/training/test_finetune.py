"""Fine-tuning on tiny phantoms: split, progress, checkpoint/resume, cancel, export, evaluate."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from inference import Volume, load_bundle
from inference.bundle import write_bundle
from inference.candidates import measure_mask
from inference.engine import pick_device, precision_for
from training.data import Case, cases_from_dir, split_by_patient, stated_diameters
from training.evaluate import evaluate
from training.finetune import FinetuneConfig, Progress, TrainingCancelled, finetune
from training.phantoms import chest_ct
from training.recipe import RecipeError, recipe_for

NET = {"_target_": "monai.networks.nets.UNet", "spatial_dims": 3, "in_channels": 1,
       "out_channels": 2, "channels": [4, 8], "strides": [2], "num_res_units": 0}


@pytest.fixture
def base(tmp_path: Path) -> Path:
    from monai.bundle import ConfigParser

    torch.manual_seed(0)
    net = ConfigParser({"n": dict(NET)}).get_parsed_content("n")
    return write_bundle(tmp_path / "base", metadata={"name": "t", "version": "1.0.0"},
                        config={"network_def": NET, "target_spacing": [2.0, 2.0, 2.0],
                                "roi_size": [16, 16, 16]}, state_dict=net.state_dict())


@pytest.fixture(scope="module")
def cases() -> list[Case]:
    out = []
    for i, s in enumerate(range(50, 54)):
        ph = chest_ct(s, size=40, slices=12, n_lesions=1, min_diameter_mm=5)
        out.append(Case(case_id=f"c{s}", patient_id=f"p{i // 2}",
                        volume=Volume(ph.image.astype(np.float32), ph.spacing, ph.origin),
                        label=ph.label))
    return out


def _config(**kw) -> FinetuneConfig:
    return FinetuneConfig(**{"max_epochs": 2, "batch_size": 2, "val_fraction": 0.5,
                             "roi_size": (16, 16, 16), "num_samples": 2, **kw})


def test_split_keeps_patients_together(cases: list[Case]) -> None:
    train, val = split_by_patient(cases, 0.5, seed=0)
    assert {c.patient_id for c in train}.isdisjoint({c.patient_id for c in val})
    assert len(train) == 2 and len(val) == 2
    assert split_by_patient(cases, 0.5, seed=0) == (train, val)


def test_finetune_exports_bundle_with_provenance(base: Path, cases: list[Case],
                                                  tmp_path: Path) -> None:
    seen: list[Progress] = []
    result = finetune(base, cases, _config(), tmp_path / "run", on_progress=seen.append,
                      command="pytest")
    assert result.epochs == 2 and len(result.history) == 2
    assert any(p.val is not None and "val_dice" in p.val for p in seen)
    assert [p.iteration for p in seen if p.val is None] == sorted(
        p.iteration for p in seen if p.val is None)
    meta = json.loads((result.bundle_dir / "configs" / "metadata.json").read_text())
    assert meta["parent_version"] == "1.0.0" and meta["command"] == "pytest"
    assert sorted(meta["data_snapshot"]["train"] + meta["data_snapshot"]["validation"]) == \
        sorted(c.case_id for c in cases)
    assert "val_dice" in meta["metrics"]
    assert load_bundle(result.bundle_dir).version.startswith("1.0.0+ft")
    trained = meta["training"]  # how it was trained: enough to tell two runs' numbers apart
    dev = pick_device(None)  # CUDA where there is one (checked on a lent H100), else the CPU
    assert trained["device"] == dev.type and trained["precision"] == precision_for(dev)
    assert trained["epochs_run"] == 2 and trained["seconds"] > 0


def test_resume_after_interruption_matches_uninterrupted_run(base: Path, cases: list[Case],
                                                             tmp_path: Path) -> None:
    full = finetune(base, cases, _config(), tmp_path / "full")
    calls = {"n": 0}

    def crash() -> bool:  # one iteration per epoch here: stop at the start of epoch 1
        calls["n"] += 1
        return calls["n"] > 1

    with pytest.raises(TrainingCancelled):
        finetune(base, cases, _config(), tmp_path / "split", should_cancel=crash)
    resumed = finetune(base, cases, _config(), tmp_path / "split")
    assert [h["epoch"] for h in resumed.history] == [0, 1]
    a = load_bundle(full.bundle_dir).state_dict
    b = load_bundle(resumed.bundle_dir).state_dict
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)


def test_compiled_training_matches_eager(base: Path, cases: list[Case], tmp_path: Path,
                                         float32_cpu: None) -> None:
    """torch.compile (the chest starter's speed-up) trains the same network as eager mode,
    from MONAI's MetaTensor batches converted to plain tensors. Compared by what the networks
    compute: a conv bias in front of a norm layer has a zero gradient in exact arithmetic, and
    Adam turns the rounding noise in it into lr-sized steps that differ between the two.
    In float32 on the CPU: on bfloat16 CPUs (AMX) fused kernels round differently from eager
    ones (losses 1e-4 apart), which says nothing about whether compiling changed the computation.
    CUDA trains in float16, where fused and eager kernels differ by float16 rounding."""
    eager = finetune(base, cases, _config(), tmp_path / "eager")
    compiled = finetune(base, cases, _config(compile=True), tmp_path / "compiled")
    assert [h["loss"] for h in compiled.history] == pytest.approx(
        [h["loss"] for h in eager.history], rel=1e-5)
    x = torch.rand(1, 1, 16, 16, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        outs = [load_bundle(r.bundle_dir).network.eval()(x) for r in (eager, compiled)]
        before = load_bundle(base).network.eval()(x)
    assert not torch.allclose(outs[0], before, atol=1e-4)  # it did train
    tol = 1e-4 if precision_for(pick_device(None)) == "float32" else 2e-3
    gap = float((outs[0] - outs[1]).abs().max())
    assert gap <= tol, f"compiled and eager networks differ by {gap:.2e}"
    assert load_bundle(compiled.bundle_dir).metadata["training"]["compile"] is True


def test_cancel_stops_training_and_keeps_checkpoint(base: Path, cases: list[Case],
                                                    tmp_path: Path) -> None:
    calls = {"n": 0}

    def cancel() -> bool:
        calls["n"] += 1
        return calls["n"] > 2

    with pytest.raises(TrainingCancelled):
        finetune(base, cases, _config(max_epochs=5), tmp_path / "run", should_cancel=cancel)
    assert (tmp_path / "run" / "checkpoint.pt").exists()


def test_evaluate_reports_all_metrics(base: Path, cases: list[Case]) -> None:
    m = evaluate(base, cases[:2])
    d = m.to_dict()
    for key in ("dice", "sensitivity", "precision", "f1", "accuracy", "fp_per_scan", "froc",
                "cpm", "n_cases", "n_lesions"):
        assert key in d
    assert m.n_cases == 2 and m.n_lesions == 2
    assert 0.0 <= m.cpm <= 1.0


def _two_nodules() -> tuple[Volume, np.ndarray]:
    """A 3.5 mm nodule on two 2.5 mm slices (its mask's long axis is ~6 mm) and a 10 mm one."""
    label = np.zeros((8, 40, 40), np.uint8)
    yy, xx = np.mgrid[:40, :40]
    label[3:5][:, (yy - 10) ** 2 + (xx - 10) ** 2 <= 6] = 1
    label[2:6, 20:34, 20:34] = 2
    image = np.where(label > 0, 0.0, -800.0).astype(np.float32)
    return Volume(image, (2.5, 0.7, 0.7), (0.0, 0.0, 0.0)), label


def test_evaluate_sizes_lesions_by_their_stated_diameter(base: Path) -> None:
    volume, label = _two_nodules()
    assert measure_mask(label == 1, volume.spacing)[0] > 4.0  # the mask overstates it

    stated = Case("s", "p", volume=volume, label=label, lesion_diameters={1: 3.5, 2: 10.0})
    m = evaluate(base, [stated], min_diameter_mm=4.0)
    assert (m.n_lesions, m.sized_by) == (1, "stated")
    unstated = Case("u", "p", volume=volume, label=label)
    m = evaluate(base, [unstated], min_diameter_mm=4.0)
    assert (m.n_lesions, m.sized_by) == (2, "mask")
    # A binary map's components are numbered by position: stated ids cannot name them.
    binary = Case("b", "p", volume=volume, label=(label > 0).astype(np.uint8),
                  lesion_diameters={1: 3.5, 2: 10.0})
    assert evaluate(base, [binary], min_diameter_mm=4.0).sized_by == "mask"


def test_cases_from_dir_reads_stated_diameters(tmp_path: Path) -> None:
    good, bad = tmp_path / "a", tmp_path / "b"
    for d, lesions in ((good, [{"id": 1, "diameter_mm": 3.5}, {"id": 2, "diameter_mm": 12}]),
                       (bad, [{"id": 1, "diameter_mm": "nan"}])):
        d.mkdir()
        (d / "label.nii.gz").write_bytes(b"")
        (d / "lesions.json").write_text(json.dumps({"seed": 7, "lesions": lesions}))
    by_id = {c.case_id: c for c in cases_from_dir(tmp_path)}
    assert by_id["a"].lesion_diameters == {1: 3.5, 2: 12.0}
    assert by_id["b"].lesion_diameters is None  # not finite: the masks are measured instead
    assert stated_diameters([{"id": 1}]) is None and stated_diameters("x") is None


def test_fine_tuning_keeps_the_base_recipe_and_the_callers_settings_win() -> None:
    recorded = {"training": {"roi_size": [40, 40, 40], "batch_size": 3, "hard_share": 0.7,
                             "flip_axes": [0, 1, 2], "transpose_prob": 0.5, "lr": 0.002,
                             "max_epochs": 400, "compile": True, "seed": 9,
                             "thick_slice_prob": 0.3}}
    c = recipe_for(recorded, {"max_epochs": 3, "batch_size": 1, "unknown": 1})
    assert (c.roi_size, c.hard_share, c.flip_axes, c.transpose_prob, c.thick_slice_prob) == (
        (40, 40, 40), 0.7, (0, 1, 2), 0.5, 0.3)
    defaults = FinetuneConfig()
    assert (c.max_epochs, c.batch_size) == (3, 1)
    assert (c.lr, c.compile, c.seed) == (defaults.lr, defaults.compile, defaults.seed)
    # a user's bundle may record nonsense: that field falls back to the default
    odd = recipe_for({"training": {"roi_size": "big", "hard_share": 7, "flip_axes": [5],
                                   "transpose_prob": None}})
    assert (odd.roi_size, odd.hard_share, odd.flip_axes, odd.transpose_prob) == (
        defaults.roi_size, defaults.hard_share, defaults.flip_axes, defaults.transpose_prob)
    assert recipe_for({"training": "x"}) == defaults == recipe_for({})
    for bad in ({"max_epochs": 0}, {"lr": "fast"}, {"roi_size": [4, 4]}, {"compile": "yes"},
                {"pos_fraction": 1.5}, {"max_minutes": -1}, {"batch_size": True},
                {"flip_axes": [3]}, {"thick_slice_prob": -0.1}):
        with pytest.raises(RecipeError, match=next(iter(bad))):
            recipe_for({}, bad)
    # settings fine one by one that the crop augmentation cannot use together
    with pytest.raises(RecipeError, match="square crop"):
        recipe_for(recorded, {"roi_size": [40, 32, 40]})
