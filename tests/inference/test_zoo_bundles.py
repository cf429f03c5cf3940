"""MONAI model-zoo bundles: their own preprocessing and inferer sections decide what the network
sees (axes, spacing, intensity, windows), steps Nodus cannot reproduce refuse the bundle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.inferers import sliding_window_inference
from monai.transforms import (
    Compose,
    NormalizeIntensity,
    Orientationd,
    ScaleIntensity,
    ScaleIntensityRange,
    ScaleIntensityRanged,
    Spacingd,
)

from inference import Volume, load_bundle, run_inference
from inference.bundle import write_bundle
from inference.engine import predict_probability
from inference.errors import BundleError
from inference.grid import model_axes
from inference.transforms import prepare
from tests.tiny_net import TINY_NET
from tests.zoo_bundle import ZOO_CONFIG, zoo_bundle
from training.finetune import FinetuneConfig, finetune
from training.phantoms import chest_ct


def _steps_with(**step: Any) -> dict[str, Any]:
    config = json.loads(json.dumps(ZOO_CONFIG))
    config["preprocessing"]["transforms"].append(step)
    return config


def test_a_zoo_bundle_runs_with_its_own_preprocessing_and_inferer(tmp_path: Path) -> None:
    p = load_bundle(zoo_bundle(tmp_path / "zoo")).params
    assert p["model_axcodes"] == "RAS" and p["target_spacing"] == [2.0, 2.0, 3.0]
    assert p["intensity"] == {"mode": "window", "a_min": -57.0, "a_max": 164.0, "b_min": 0.0,
                              "b_max": 1.0, "clip": True}
    assert p["roi_size"] == [32, 24, 16] and p["sw_batch_size"] == 2 and p["sw_overlap"] == 0.5
    assert p["modality"] == "CT"
    assert load_bundle(zoo_bundle(tmp_path / "mr", modality="MRI")).params["modality"] == "MR"


def test_nodus_flat_keys_override_what_the_zoo_sections_say(tmp_path: Path) -> None:
    config = {**ZOO_CONFIG, "roi_size": [16, 16, 16], "model_axcodes": "SPL"}
    p = load_bundle(zoo_bundle(tmp_path / "zoo", config)).params
    assert p["roi_size"] == [16, 16, 16] and p["model_axcodes"] == "SPL"
    assert p["target_spacing"] == [2.0, 2.0, 3.0]  # not overridden: still the zoo's


@pytest.mark.parametrize(("config", "reason"), [
    (_steps_with(_target_="Rotate90d", keys="image", k=1), "Rotate90"),
    # a z-score after a clipped window: the clip changes the mean and std it measures
    (_steps_with(_target_="NormalizeIntensityd", keys="image"), "second intensity"),
    (_steps_with(_target_="NormalizeIntensityd", keys="image", subtrahend=3.0), "subtrahend"),
    ({**ZOO_CONFIG, "pixdim": "$[1.0, 1.0, 1.0]"}, "expression"),
    ({**ZOO_CONFIG, "pixdim": "@nowhere"}, "not a top-level value"),
    ({**ZOO_CONFIG, "inferer": {"_target_": "SimpleInferer"}}, "SimpleInferer"),
    ({**ZOO_CONFIG, "model_axcodes": "RAR"}, "model_axcodes"),
    ({**ZOO_CONFIG, "pixdim": [2.0, "1.0", 1.0]}, "target_spacing"),
    ({**ZOO_CONFIG, "pixdim": []}, "target_spacing"),
    ({**ZOO_CONFIG, "inferer": {**ZOO_CONFIG["inferer"], "mode": "hann"}}, "sw_mode"),
    ({**ZOO_CONFIG, "intensity": {"mode": "percentile", "lower": 99, "upper": 1}}, "intensity"),
    ({**ZOO_CONFIG, "intensity": {"mode": "window", "a_min": 5, "a_max": 5}}, "intensity"),
    ({**ZOO_CONFIG, "intensity": {"mode": "zscore", "nonzero": "yes"}}, "intensity"),
])
def test_steps_nodus_cannot_reproduce_refuse_the_bundle(tmp_path: Path, config: dict[str, Any],
                                                        reason: str) -> None:
    with pytest.raises(BundleError, match=reason):
        load_bundle(zoo_bundle(tmp_path / "zoo", config))


def _without_orientation(**top: Any) -> dict[str, Any]:
    config = json.loads(json.dumps({**ZOO_CONFIG, **top}))
    steps = config["preprocessing"]["transforms"]
    config["preprocessing"]["transforms"] = [s for s in steps if s["_target_"] != "Orientationd"]
    return config


def test_the_adaptive_sliding_window_inferer_reads_as_the_plain_one(tmp_path: Path) -> None:
    config = {**ZOO_CONFIG, "inferer": {**ZOO_CONFIG["inferer"],
                                        "_target_": "monai.inferers.SlidingWindowInfererAdapt"}}
    p = load_bundle(zoo_bundle(tmp_path / "zoo", config)).params
    assert p["roi_size"] == [32, 24, 16] and p["sw_overlap"] == 0.5


def test_orientationd_as_closest_canonical_is_ras(tmp_path: Path) -> None:
    config = json.loads(json.dumps(ZOO_CONFIG))
    for step in config["preprocessing"]["transforms"]:
        if step["_target_"] == "Orientationd":
            del step["axcodes"]
            step["as_closest_canonical"] = True
    assert load_bundle(zoo_bundle(tmp_path / "zoo", config)).params["model_axcodes"] == "RAS"


def test_a_zoo_bundle_without_orientationd_needs_its_axis_order_said(tmp_path: Path) -> None:
    """MONAI would feed such a network each file's stored axis order: no fixed order to
    reproduce, so the bundle is refused unless inference.json names one."""
    with pytest.raises(BundleError, match="no Orientationd"):
        load_bundle(zoo_bundle(tmp_path / "bare", _without_orientation()))
    said = load_bundle(zoo_bundle(tmp_path / "said", _without_orientation(model_axcodes="LPS")))
    assert said.params["model_axcodes"] == "LPS"


@pytest.mark.parametrize(("pixdim", "spacing"), [
    (1.5, [1.5, 1.5, 1.5]), ([2.0, 3.0], [2.0, 3.0, 3.0]), ([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0]),
    ([2.0, -1, 0], [2.0, 0.0, 0.0]),
])
def test_pixdim_is_read_as_monai_spacingd_reads_it(tmp_path: Path, pixdim: Any,
                                                   spacing: list[float]) -> None:
    """A number or a short list is padded with its last value, a long one cut; <= 0 keeps the
    scan's own spacing on that axis (0 in Nodus's params)."""
    params = load_bundle(zoo_bundle(tmp_path / "zoo", {**ZOO_CONFIG, "pixdim": pixdim})).params
    assert params["target_spacing"] == spacing and params["grid"] == "spacing"


def _volume() -> Volume:
    rng = np.random.default_rng(5)
    arr = rng.normal(40, 80, (18, 40, 36)).astype(np.float32)
    direction = np.array([[0, 0, -1], [1, 0, 0], [0, -1, 0]], dtype=float)  # permuted, flipped
    return Volume(array=arr, spacing=(2.5, 0.8, 0.9), origin=(5.0, -7.0, 11.0),
                  direction=direction)


def test_the_network_sees_monai_orientationd_output_and_the_map_comes_back(
        tmp_path: Path, float32_cpu: None) -> None:
    """MONAI's own pipeline on the same scan (Orientationd RAS, Spacingd to the zoo pixdim,
    ScaleIntensityRanged) is exactly what the network gets, and its sliding-window probability
    maps back to Nodus's canonical grid."""
    bundle = load_bundle(zoo_bundle(tmp_path / "zoo"))
    assert bundle.params["grid"] == "spacing"
    vol = _volume()
    prep = prepare(vol, bundle.params)
    axes = model_axes("RAS")
    affine = torch.from_numpy(vol.lps_affine()[:, [2, 1, 0, 3]])
    monai_pipeline = Compose([
        Orientationd(keys="image", axcodes="RAS", labels=None),
        Spacingd(keys="image", pixdim=(2.0, 2.0, 3.0), mode="bilinear"),
        ScaleIntensityRanged(keys="image", a_min=-57, a_max=164, b_min=0.0, b_max=1.0,
                             clip=True),
    ])
    seen = monai_pipeline({"image": MetaTensor(torch.from_numpy(vol.array)[None],
                                               affine=affine, meta={"space": "LPS"})})["image"]
    shape_zyx = tuple(prep.image.shape[1:])
    assert seen.shape[1:] == shape_zyx[::-1]
    # equal up to float rounding (linear weights applied in another axis order)
    assert torch.allclose(seen.as_tensor(), axes.apply_tensor(prep.image), atol=1e-6)

    net = bundle.network.eval()
    with torch.inference_mode():
        logits = sliding_window_inference(seen.as_tensor()[None], (32, 24, 16), 2, net,
                                          overlap=0.5, mode="gaussian")
        expected = torch.softmax(logits, dim=1)[0, 1]
    ours = predict_probability(bundle, prep.image, torch.device("cpu"))
    assert ours.shape == shape_zyx
    assert np.allclose(axes.apply(ours), expected.numpy(), atol=1e-5)
    result = run_inference(bundle, vol)  # and the whole pipeline back on the input grid
    assert result.label.shape == vol.shape


@pytest.mark.parametrize("nonzero", [False, True])
def test_zscore_and_minmax_intensities_match_monai(tmp_path: Path, nonzero: bool) -> None:
    vol = _volume()
    vol.array[:, :4] = 0.0  # background that nonzero=True leaves alone
    for step, monai_step in [
        ({"_target_": "NormalizeIntensityd", "keys": "image", "nonzero": nonzero},
         NormalizeIntensity(nonzero=nonzero)),
        ({"_target_": "ScaleIntensityd", "keys": "image", "minv": -1.0, "maxv": 2.0},
         ScaleIntensity(minv=-1.0, maxv=2.0)),
        ({"_target_": "ScaleIntensityRanged", "keys": "image", "a_min": -100, "a_max": 200,
          "b_min": -1.0, "b_max": 1.0},  # MONAI's default: no clipping
         ScaleIntensityRange(a_min=-100, a_max=200, b_min=-1.0, b_max=1.0)),
    ]:
        config = json.loads(json.dumps(ZOO_CONFIG))
        steps = config["preprocessing"]["transforms"]
        steps[4] = step
        bundle = load_bundle(zoo_bundle(tmp_path / step["_target_"], config))
        same_grid = {**bundle.params, "intensity": {"mode": "window", "a_min": 0.0,
                                                    "a_max": 1.0, "clip": False}}
        raw = prepare(vol, same_grid).image  # resampled, intensities untouched
        expected = monai_step(raw.clone())
        assert torch.allclose(prepare(vol, bundle.params).image, torch.as_tensor(expected),
                              atol=1e-4), step["_target_"]


@pytest.mark.parametrize("chain", [
    # prostate_mri_anatomy's: min-max, then z-score (the z-score alone)
    [{"_target_": "ScaleIntensityd", "keys": "image", "minv": 0, "maxv": 1},
     {"_target_": "NormalizeIntensityd", "keys": "image"}],
    # an unclipped window, then min-max (the min-max alone)
    [{"_target_": "ScaleIntensityRanged", "keys": "image", "a_min": -100, "a_max": 200},
     {"_target_": "ScaleIntensityd", "keys": "image", "minv": -1.0, "maxv": 1.0}],
])
def test_chained_intensity_steps_fold_into_one_as_monai_computes_them(
        tmp_path: Path, chain: list[dict[str, Any]]) -> None:
    from monai.transforms import Compose as MonaiCompose
    from monai.transforms import NormalizeIntensityd, ScaleIntensityd, ScaleIntensityRanged

    config = json.loads(json.dumps(ZOO_CONFIG))
    steps = config["preprocessing"]["transforms"]
    steps[4:5] = chain
    bundle = load_bundle(zoo_bundle(tmp_path / "zoo", config))
    vol = _volume()
    same_grid = {**bundle.params, "intensity": {"mode": "window", "a_min": 0.0, "a_max": 1.0,
                                                "clip": False}}
    raw = prepare(vol, same_grid).image  # resampled, intensities untouched
    kinds = {"ScaleIntensityd": ScaleIntensityd, "NormalizeIntensityd": NormalizeIntensityd,
             "ScaleIntensityRanged": ScaleIntensityRanged}
    monai = MonaiCompose([kinds[c["_target_"]](**{k: v for k, v in c.items() if k != "_target_"})
                          for c in chain])
    expected = torch.as_tensor(monai({"image": raw.clone()})["image"])
    assert torch.allclose(prepare(vol, bundle.params).image, expected, atol=1e-5)


def test_top_level_keys_replace_zoo_values_nodus_cannot_read(tmp_path: Path) -> None:
    """wholeBody_ct_segmentation's pixdim is an expression: with target_spacing written beside
    it the bundle runs (still on Spacingd's grid); a string flag reads as MONAI reads it."""
    config = {**ZOO_CONFIG, "pixdim": "$[1.5, 1.5, 1.5] if @fast else [3.0, 3.0, 3.0]"}
    with pytest.raises(BundleError, match="expression.*write Nodus's target_spacing"):
        load_bundle(zoo_bundle(tmp_path / "expr", config))
    p = load_bundle(zoo_bundle(tmp_path / "said", {**config, "target_spacing": [3.0, 3.0, 3.0]}
                               )).params
    assert p["target_spacing"] == [3.0, 3.0, 3.0] and p["grid"] == "spacing"
    flagged = json.loads(json.dumps(ZOO_CONFIG))
    flagged["preprocessing"]["transforms"][4] = {"_target_": "NormalizeIntensityd",
                                                 "keys": "image", "nonzero": "True"}
    assert load_bundle(zoo_bundle(tmp_path / "flag", flagged)).params["intensity"] == {
        "mode": "zscore", "nonzero": True}


def test_finetuning_a_zoo_bundle_trains_in_its_axes_and_keeps_its_settings(
        tmp_path: Path) -> None:
    ph = chest_ct(60, size=40, slices=12, n_lesions=1, min_diameter_mm=5)
    from training.data import Case

    cases = [Case(case_id=f"c{i}", patient_id=f"p{i}",
                  volume=Volume(ph.image.astype(np.float32), ph.spacing, ph.origin),
                  label=ph.label) for i in range(2)]
    bundle = zoo_bundle(tmp_path / "zoo")
    shapes: list[tuple[int, ...]] = []
    net_cls = load_bundle(bundle).network.__class__
    original = net_cls.forward

    def spy(self: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            shapes.append(tuple(x.shape[2:]))
        return original(self, x)

    config = FinetuneConfig(max_epochs=1, batch_size=1, val_fraction=0.5, roi_size=(16, 24, 32),
                            num_samples=1)
    try:
        net_cls.forward = spy  # type: ignore[method-assign]
        result = finetune(bundle, cases, config, tmp_path / "run")
    finally:
        net_cls.forward = original  # type: ignore[method-assign]
    # crops are cut as (z, y, x) = 16 x 24 x 32 on the canonical grid: the RAS network gets
    # them as (x, y, z)
    assert shapes and set(shapes) == {(32, 24, 16)}
    tuned = load_bundle(result.bundle_dir).params
    assert tuned["model_axcodes"] == "RAS" and tuned["target_spacing"] == [2.0, 2.0, 3.0]


def test_cli_validate_shows_what_was_read_and_refuses_with_the_step_name(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from inference.__main__ import main

    assert main(["validate", "--bundle", str(zoo_bundle(tmp_path / "ok"))]) == 0
    shown = json.loads(capsys.readouterr().out)["params"]
    assert shown["model_axcodes"] == "RAS" and shown["intensity"]["a_min"] == -57.0
    bad = zoo_bundle(tmp_path / "bad", _steps_with(_target_="RandGaussianNoised", keys="image"))
    assert main(["validate", "--bundle", str(bad)]) == 2
    assert "RandGaussianNoise" in capsys.readouterr().err


THREE_CLASS = {**TINY_NET, "out_channels": 3}


def three_class_bundle(root: Path, channel_def: dict[str, str] | None,
                       extra: dict[str, Any] | None = None) -> Path:
    from monai.bundle import ConfigParser

    torch.manual_seed(1)
    net = ConfigParser({"n": dict(THREE_CLASS)}).get_parsed_content("n")
    outputs = {"pred": {"type": "image", "num_channels": 3, "channel_def": channel_def}}
    meta = {"name": "pancreas_like", "version": "1.0.0",
            "network_data_format": {"outputs": outputs}} if channel_def else {
        "name": "unnamed", "version": "1.0.0"}
    config = {**ZOO_CONFIG, "network_def": THREE_CLASS, **(extra or {})}
    return write_bundle(root, metadata=meta, config=config, state_dict=net.state_dict())


def test_a_multi_class_zoo_network_gives_its_lesion_channel(tmp_path: Path,
                                                             float32_cpu: None) -> None:
    bundle = load_bundle(three_class_bundle(
        tmp_path / "p", {"0": "background", "1": "pancreas", "2": "pancreatic tumor"}))
    assert bundle.params["foreground_channels"] == [2]
    prep = prepare(_volume(), bundle.params)
    axes = model_axes("RAS")
    with torch.inference_mode():
        logits = sliding_window_inference(axes.apply_tensor(prep.image)[None], (32, 24, 16), 2,
                                          bundle.network.eval(), overlap=0.5, mode="gaussian")
        expected = torch.softmax(logits, dim=1)[0, 2]
    ours = predict_probability(bundle, prep.image, torch.device("cpu"))
    assert np.allclose(axes.apply(ours), expected.numpy(), atol=1e-5)
    # two lesion channels are summed; an explicit key wins over channel_def
    both = load_bundle(three_class_bundle(tmp_path / "b", {"0": "background", "1": "nodule",
                                                           "2": "mass"})).params
    assert both["foreground_channels"] == [1, 2]
    chosen = load_bundle(three_class_bundle(tmp_path / "c", None, {"foreground_channels": [1]}))
    assert chosen.params["foreground_channels"] == [1]


@pytest.mark.parametrize(("channel_def", "extra", "reason"), [
    (None, None, "names none of them a lesion"),
    ({"0": "background", "1": "liver", "2": "spleen"}, None, "names none of them a lesion"),
    (None, {"foreground_channels": [0]}, "foreground_channels"),
    (None, {"foreground_channels": [3]}, "foreground_channels"),
    (None, {"foreground_channels": [1, 1]}, "foreground_channels"),
])
def test_a_multi_class_network_without_a_lesion_channel_is_refused(
        tmp_path: Path, channel_def: dict[str, str] | None, extra: dict[str, Any] | None,
        reason: str) -> None:
    with pytest.raises(BundleError, match=reason):
        load_bundle(three_class_bundle(tmp_path / "x", channel_def, extra))


def test_finetuning_a_multi_class_network_teaches_lesions_as_its_lesion_channel(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import training.finetune as ft

    ph = chest_ct(61, size=40, slices=12, n_lesions=1, min_diameter_mm=6)
    from training.data import Case

    cases = [Case(case_id=f"c{i}", patient_id=f"p{i}",
                  volume=Volume(ph.image.astype(np.float32), ph.spacing, ph.origin),
                  label=ph.label) for i in range(2)]
    bundle = three_class_bundle(tmp_path / "p", {"0": "background", "1": "organ", "2": "tumor"})
    targets: list[set[int]] = []
    real_loss = ft.DiceCELoss

    class SpyLoss(real_loss):  # type: ignore[misc, valid-type]
        def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            targets.append({int(v) for v in target.unique()})
            return super().forward(pred, target)

    monkeypatch.setattr(ft, "DiceCELoss", SpyLoss)
    config = FinetuneConfig(max_epochs=1, batch_size=1, val_fraction=0.5, roi_size=(16, 16, 16),
                            num_samples=2, pos_fraction=1.0)
    finetune(bundle, cases, config, tmp_path / "run")
    assert targets and set().union(*targets) == {0, 2}  # lesion voxels are class 2, never 1


def test_the_voxel_limit_shrinks_with_the_number_of_output_classes(tmp_path: Path) -> None:
    from inference.errors import InvalidVolumeError

    vol = _volume()
    fine = {"target_spacing": [0.6, 0.6, 0.6]}  # a model grid larger than the scan
    two = load_bundle(zoo_bundle(tmp_path / "two", {**ZOO_CONFIG, **fine}))
    three = load_bundle(three_class_bundle(tmp_path / "three", {"0": "background",
                                                                "2": "tumor"}, fine))
    grid = int(np.prod(prepare(vol, two.params).image.shape))
    limit = grid + 1  # enough for two classes, not for three (x 2/3)
    assert vol.array.size < 2 * limit // 3 < grid
    assert run_inference(two, vol, max_voxels=limit).label.shape == vol.shape
    with pytest.raises(InvalidVolumeError, match="3 output channels"):
        run_inference(three, vol, max_voxels=limit)


def test_a_multi_label_sigmoid_network_is_read_through_its_sigmoid(tmp_path: Path,
                                                                  float32_cpu: None) -> None:
    from inference.errors import InferenceError

    sigmoid_post = {"postprocessing": {"_target_": "Compose", "transforms": [
        {"_target_": "Activationsd", "keys": "pred", "sigmoid": True},
        {"_target_": "AsDiscreted", "keys": "pred", "threshold": 0.5}]}}
    path = three_class_bundle(tmp_path / "ml", {"0": "tumor core", "1": "edema",
                                                "2": "enhancing tumor"}, sigmoid_post)
    bundle = load_bundle(path)
    assert bundle.params["activation"] == "sigmoid"
    assert bundle.params["foreground_channels"] == [0, 2]  # channel 0 is a class, not background
    prep = prepare(_volume(), bundle.params)
    axes = model_axes("RAS")
    with torch.inference_mode():
        logits = sliding_window_inference(axes.apply_tensor(prep.image)[None], (32, 24, 16), 2,
                                          bundle.network.eval(), overlap=0.5, mode="gaussian")
        expected = torch.sigmoid(logits[0, [0, 2]]).amax(dim=0)
    ours = predict_probability(bundle, prep.image, torch.device("cpu"))
    assert np.allclose(axes.apply(ours), expected.numpy(), atol=1e-5)
    with pytest.raises(InferenceError, match="multi-label"):
        finetune(path, [], FinetuneConfig(max_epochs=1), tmp_path / "run")


def test_network_def_may_refer_to_top_level_values(tmp_path: Path) -> None:
    net = {**TINY_NET, "out_channels": "@num_classes", "channels": "@features"}
    config = {**ZOO_CONFIG, "num_classes": 2, "features": list(TINY_NET["channels"]),
              "network_def": net}
    bundle = load_bundle(zoo_bundle(tmp_path / "ok", config))
    assert bundle.out_channels == 2 and bundle.config["network_def"]["channels"] == TINY_NET[
        "channels"]
    with pytest.raises(BundleError, match="not a top-level value"):
        load_bundle(zoo_bundle(tmp_path / "dangling", {**config, "network_def": {
            **net, "out_channels": "@classes"}}))
    with pytest.raises(BundleError, match="expression"):
        load_bundle(zoo_bundle(tmp_path / "code", {**config, "num_classes": "$1 + 1"}))


def test_an_argument_monai_has_removed_is_dropped_for_older_bundles() -> None:
    """swin_unetr_btcv_segmentation passes SwinUNETR's img_size, removed in MONAI 1.5."""
    from inference.bundle import build_network

    net = build_network({"network_def": {"_target_": "SwinUNETR", "spatial_dims": 3,
                                         "img_size": 32, "in_channels": 1, "out_channels": 2,
                                         "feature_size": 12}})
    assert type(net).__name__ == "SwinUNETR"
    with pytest.raises(BundleError, match="cannot build"):  # other unknown arguments still fail
        build_network({"network_def": {"_target_": "SwinUNETR", "in_channels": 1,
                                       "out_channels": 2, "feature_size": 12, "bogus": 1}})


def _as_yaml(root: Path, text: str | None = None) -> Path:
    import yaml

    json_path = root / "configs" / "inference.json"
    (root / "configs" / "inference.yaml").write_text(
        text if text is not None else yaml.safe_dump(json.loads(json_path.read_text())))
    json_path.unlink()
    return root


def test_a_yaml_configured_bundle_reads_as_its_json_twin(tmp_path: Path) -> None:
    as_json = load_bundle(zoo_bundle(tmp_path / "json")).params
    as_yaml = load_bundle(_as_yaml(zoo_bundle(tmp_path / "yaml"))).params
    assert as_yaml == as_json and as_yaml["model_axcodes"] == "RAS"


@pytest.mark.parametrize(("text", "reason"), [
    # aliases: each line multiplies the size by ten (nine such lines make 10^9 items)
    ("a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
     "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n", "aliases"),
    ("network_def: !!python/object/apply:os.system [echo pwned]\n", "not plain YAML"),
    ("when: 2026-11-27\n", "not plain YAML"),  # a date: not JSON data
    ("- just\n- a list\n", "must hold a mapping"),
    ("key: [unclosed\n", "not plain YAML"),
])
def test_unsafe_or_malformed_yaml_is_refused(tmp_path: Path, text: str, reason: str) -> None:
    root = _as_yaml(zoo_bundle(tmp_path / "zoo"), text)
    with pytest.raises(BundleError, match=reason):
        load_bundle(root)
