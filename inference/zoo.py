"""Settings of a MONAI model-zoo bundle read from its own `preprocessing` and `inferer` sections.

Zoo bundles (spleen_ct_segmentation and the like) describe their input as a list of MONAI
transforms (Orientationd, Spacingd, ScaleIntensityRanged...) and a SlidingWindowInferer rather
than Nodus's flat keys. Running such a network with Nodus's defaults would feed it the wrong
window, spacing and axis order: a silently wrong result. So the steps Nodus can reproduce are
translated into its parameters, steps that do not change the voxels the network sees are
passed over, and any other step refuses the bundle with its name. Nothing here evaluates the
config's `$` expressions (code); a plain `@key` reference to a top-level value is followed.

Top-level Nodus keys written beside the sections (`OVERRIDES`) replace those parts, which are
then not read. Spacingd is reproduced on its own grid (`grid: "spacing"`: the exact pixdim from
the centre of the first voxel in the model's axis order, border padding), not on the
extent-preserving grid of Nodus's own bundles, so a zoo network sees the voxels MONAI would
give it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .errors import BundleError

# Steps that load, add a channel, convert types, or pad/crop around the body: what the network
# sees inside the body is unchanged, so Nodus's own reading and sliding window stand in for them.
PASS_OVER = {
    "LoadImage", "EnsureChannelFirst", "AddChannel", "EnsureType", "ToTensor", "CastToType",
    "Identity", "CropForeground", "SpatialPad", "DivisiblePad", "FgBgToIndices",
    "ToDevice", "SaveImage",
}
READ = {"Orientation", "Spacing", "ScaleIntensityRange", "ScaleIntensityRangePercentiles",
        "NormalizeIntensity", "ScaleIntensity"}


KNOWN = PASS_OVER | READ | {"Activations"}  # the last one read from postprocessing


def _step_name(target: str) -> str:
    """'monai.transforms.Spacingd' / 'Spacingd' / 'Spacing' -> 'Spacing'."""
    short = target.rsplit(".", 1)[-1]
    if short.endswith("d") and short[:-1] in KNOWN:
        return short[:-1]
    return short


class _Reader:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config

    def value(self, node: Any, where: str, depth: int = 0) -> Any:
        """`node` with `@key` references to top-level plain values followed."""
        if isinstance(node, str) and node.startswith("$"):
            raise BundleError(f"inference.json: {where} is an expression ({node[:40]!r}); Nodus "
                              "reads plain values only")
        if isinstance(node, str) and node.startswith("@"):
            key = node[1:]
            if depth > 8 or "#" in key or key not in self.config:
                raise BundleError(f"inference.json: {where} refers to {node!r}, which is not a "
                                  "top-level value")
            return self.value(self.config[key], where, depth + 1)
        return node

    def steps(self, name: str) -> list[dict[str, Any]]:
        """The transforms of the `preprocessing` or `postprocessing` section."""
        section = self.value(self.config.get(name), name)
        if section is None:
            return []
        items = section.get("transforms") if isinstance(section, dict) else section
        items = self.value(items, f"{name}.transforms")
        if not isinstance(items, list):
            raise BundleError(f"inference.json: {name}.transforms must be a list")
        steps = []
        for i, item in enumerate(items):
            step = self.value(item, f"{name}.transforms[{i}]")
            if not isinstance(step, dict) or not isinstance(step.get("_target_"), str):
                raise BundleError(f"inference.json: {name}.transforms[{i}] has no _target_")
            steps.append(step)
        return steps


def _number(reader: _Reader, step: dict[str, Any], key: str, where: str,
            default: float | None = None) -> float:
    value = reader.value(step.get(key, default), f"{where}.{key}")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BundleError(f"inference.json: {where}.{key} must be a number, got {value!r}")
    return float(value)


def _flag(reader: _Reader, step: dict[str, Any], key: str, where: str, default: bool) -> bool:
    value = reader.value(step.get(key, default), f"{where}.{key}")
    if isinstance(value, str):
        return bool(value)  # as the MONAI transform reads it: any non-empty string is true
    if not isinstance(value, bool):
        raise BundleError(f"inference.json: {where}.{key} must be true or false, got {value!r}")
    return value


def _intensity(reader: _Reader, name: str, step: dict[str, Any], where: str) -> dict[str, Any]:
    num = lambda key, default=None: _number(reader, step, key, where, default)  # noqa: E731
    if name == "ScaleIntensityRange":
        return {"mode": "window", "a_min": num("a_min"), "a_max": num("a_max"),
                "b_min": num("b_min", 0.0), "b_max": num("b_max", 1.0),
                "clip": _flag(reader, step, "clip", where, False)}
    if name == "ScaleIntensityRangePercentiles":
        return {"mode": "percentile", "lower": num("lower"), "upper": num("upper"),
                "b_min": num("b_min", 0.0), "b_max": num("b_max", 1.0),
                "clip": _flag(reader, step, "clip", where, False)}
    if name == "NormalizeIntensity":
        for key in ("subtrahend", "divisor"):
            if step.get(key) is not None:
                raise BundleError(f"inference.json: {where}.{key} is not supported")
        return {"mode": "zscore", "nonzero": _flag(reader, step, "nonzero", where, False)}
    return {"mode": "minmax", "b_min": num("minv", 0.0), "b_max": num("maxv", 1.0)}


def with_references(config: dict[str, Any], node: Any, where: str) -> Any:
    """`node` with every plain `@key` reference in it (at any depth) replaced by that top-level
    value, as ConfigParser would resolve it (zoo bundles write e.g. "out_channels":
    "@num_classes"); nothing is evaluated."""
    reader = _Reader(config)

    def walk(item: Any, at: str) -> Any:
        item = reader.value(item, at)
        if isinstance(item, dict):
            return {k: walk(v, f"{at}.{k}") for k, v in item.items()}
        if isinstance(item, list):
            return [walk(v, f"{at}[{i}]") for i, v in enumerate(item)]
        return item

    return walk(node, where)


def _increasing_affine(s: dict[str, Any]) -> bool:
    """Whether an intensity setting maps every voxel by the same increasing a * x + b."""
    mode = s["mode"]
    if mode == "zscore":
        return not s.get("nonzero", False)
    if mode == "minmax":
        return s["b_max"] > s["b_min"]
    return not s.get("clip", False) and s["b_max"] > s["b_min"] and (
        mode == "percentile" or s["a_max"] > s["a_min"])


def _affine_invariant(s: dict[str, Any]) -> bool:
    """Whether an intensity setting gives the same result after any increasing affine map of
    its input (it measures the image itself: mean and std, min and max, percentiles)."""
    return (s["mode"] == "zscore" and not s.get("nonzero", False)) or s["mode"] in (
        "minmax", "percentile")


def _fold_intensity(steps: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """One intensity setting for a chain of them: a step that measures the image (z-score,
    min-max, percentiles) makes an increasing affine step before it irrelevant (e.g. a zoo
    bundle's ScaleIntensityd then NormalizeIntensityd is the z-score alone)."""
    result = steps[0][1]
    for where, s in steps[1:]:
        if not (_affine_invariant(s) and _increasing_affine(result)):
            raise BundleError(f"inference.json: {where} is a second intensity step whose "
                              "result depends on the first; Nodus applies one")
        result = s
    return result


# Nodus's own keys that, written at the top level of inference.json, take the place of what
# the zoo sections say; those parts of the sections are then not read at all.
OVERRIDES = ("model_axcodes", "target_spacing", "grid", "intensity", "activation", "roi_size",
             "sw_batch_size", "sw_overlap", "sw_mode")


@contextmanager
def _hint(key: str) -> Iterator[None]:
    """A value Nodus cannot read can be written as its own top-level key instead: say so."""
    try:
        yield
    except BundleError as exc:
        raise BundleError(f"{exc} (or write Nodus's {key} at the top level of inference.json, "
                          "which is then used instead)") from exc


def zoo_params(config: dict[str, Any]) -> dict[str, Any]:
    """Nodus parameters from the bundle's `preprocessing` and `inferer` sections ({} if it has
    neither); raises BundleError for a step Nodus cannot reproduce. A part that a top-level
    Nodus key overrides is not read (so a bundle whose pixdim is an expression runs with the
    `target_spacing` written beside it)."""
    reader = _Reader(config)
    given = {k for k in OVERRIDES if k in config}
    params: dict[str, Any] = {}
    intensity: list[tuple[str, dict[str, Any]]] = []
    steps = reader.steps("preprocessing")
    for i, step in enumerate(steps):
        name = _step_name(step["_target_"])
        where = f"preprocessing.transforms[{i}] ({name})"
        if name in PASS_OVER:
            continue
        if name not in READ:
            raise BundleError(f"inference.json: {where} is a step Nodus cannot reproduce; it "
                              "reads orientation, spacing and intensity scaling only")
        if name == "Orientation":
            if "model_axcodes" in given:
                continue
            with _hint("model_axcodes"):
                codes = reader.value(step.get("axcodes"), f"{where}.axcodes")
            if codes is None and _flag(reader, step, "as_closest_canonical", where, False):
                codes = "RAS"  # the closest canonical orientation of an axis-aligned scan
            if not isinstance(codes, str):
                raise BundleError(f"inference.json: {where}.axcodes must be a string")
            params["model_axcodes"] = codes.upper()
        elif name == "Spacing":
            params["grid"] = "spacing"
            if "target_spacing" not in given:
                with _hint("target_spacing"):
                    pixdim = reader.value(step.get("pixdim"), f"{where}.pixdim")
                params["target_spacing"] = spacing_from_pixdim(pixdim)  # checked with the rest
        elif "intensity" not in given:
            with _hint("intensity"):
                intensity.append((where, _intensity(reader, name, step, where)))
    if intensity:
        params["intensity"] = _fold_intensity(intensity)
    if steps and "model_axcodes" not in params and "model_axcodes" not in given:
        # Without Orientationd MONAI feeds the network the file's stored axis order, which
        # differs between files: Nodus cannot know which order the weights expect.
        raise BundleError("inference.json: preprocessing has no Orientationd, so the axis order "
                          "the network was trained on is unknown; add Orientationd (e.g. axcodes "
                          "RAS) or a top-level model_axcodes")
    # The output activation: a multi-label network (sigmoid per channel) must not be read
    # through a softmax. Other postprocessing (argmax, Invertd, saving) Nodus does its own way.
    for i, step in enumerate(reader.steps("postprocessing")):
        if _step_name(step["_target_"]) == "Activations" and "activation" not in given:
            where = f"postprocessing.transforms[{i}]"
            if _flag(reader, step, "sigmoid", where, False):
                params["activation"] = "sigmoid"
            elif _flag(reader, step, "softmax", where, False):
                params["activation"] = "softmax"
    inferer = reader.value(config.get("inferer"), "inferer")
    if isinstance(inferer, dict):
        target = str(inferer.get("_target_", ""))
        # SlidingWindowInfererAdapt: the same windows, with MONAI's fallback to CPU stitching
        # when GPU memory runs out (Nodus picks the stitching device itself)
        if target.rsplit(".", 1)[-1] not in ("SlidingWindowInferer", "SlidingWindowInfererAdapt"):
            raise BundleError(f"inference.json: inferer {target!r} is not supported; Nodus runs "
                              "a sliding window")
        for ours, theirs in (("roi_size", "roi_size"), ("sw_batch_size", "sw_batch_size"),
                             ("sw_overlap", "overlap"), ("sw_mode", "mode")):
            if theirs in inferer and ours not in given:
                params[ours] = reader.value(inferer[theirs], f"inferer.{theirs}")
        if isinstance(params.get("sw_overlap"), int) and not isinstance(params["sw_overlap"],
                                                                         bool):
            params["sw_overlap"] = float(params["sw_overlap"])
    return params


def spacing_from_pixdim(value: Any) -> Any:
    """Spacingd's pixdim as three spacings, read as MONAI reads it: a number or a shorter list
    padded with its last value, a longer one cut; a value <= 0 keeps the scan's own spacing on
    that axis (0 here). Anything else is returned for the params check to refuse."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = [value]
    if (not isinstance(value, list) or not value
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)):
        return value
    padded = (value + [value[-1]] * 3)[:3]
    return [float(v) if v > 0 else 0.0 for v in padded]


# Output channel names (metadata channel_def) that mean "the lesion" to Nodus.
LESION_WORDS = ("lesion", "tumor", "tumour", "nodule", "cancer", "metasta", "mass", "neoplasm")


def foreground_channels(config: dict[str, Any], metadata: dict[str, Any], out_channels: int,
                        activation: str = "softmax") -> list[int]:
    """Which output channels make up the lesion probability: inference.json's
    `foreground_channels`, else channel 1 of a two-class softmax network (0 of a one-channel
    sigmoid one), else the channels a zoo network's channel_def names as a lesion (e.g. "tumor"
    of background / pancreas / tumor). A softmax's channel 0 is the background."""
    if out_channels < 1:
        raise BundleError("network out_channels must be at least 1")
    lo = 0 if out_channels == 1 or activation == "sigmoid" else 1
    given = config.get("foreground_channels")
    if given is not None:
        if (not isinstance(given, list) or not given or len(set(given)) != len(given)
                or not all(isinstance(c, int) and not isinstance(c, bool)
                           and lo <= c < out_channels for c in given)):
            raise BundleError(f"inference.json: foreground_channels must list distinct channels "
                              f"{lo}..{out_channels - 1}, got {given!r}")
        return list(given)
    if out_channels == 1 or (out_channels == 2 and activation != "sigmoid"):
        return [out_channels - 1]
    outputs = metadata.get("network_data_format", {})
    outputs = outputs.get("outputs", {}) if isinstance(outputs, dict) else {}
    pred = outputs.get("pred", {}) if isinstance(outputs, dict) else {}
    names = pred.get("channel_def", {}) if isinstance(pred, dict) else {}
    picked = sorted(int(k) for k, v in (names.items() if isinstance(names, dict) else ())
                    if str(k).isdigit() and lo <= int(k) < out_channels
                    and any(w in str(v).lower() for w in LESION_WORDS))
    if not picked:
        raise BundleError(f"the network has {out_channels} output channels and metadata's "
                          "channel_def names none of them a lesion (tumor, nodule...): set "
                          "foreground_channels in inference.json")
    return picked


def declared_modality(metadata: dict[str, Any]) -> dict[str, Any]:
    """A zoo bundle's input modality from metadata.json ("CT", "MR" or "MRI"), if it says."""
    image = metadata.get("network_data_format", {})
    image = image.get("inputs", {}) if isinstance(image, dict) else {}
    image = image.get("image", {}) if isinstance(image, dict) else {}
    modality = image.get("modality") if isinstance(image, dict) else None
    if isinstance(modality, str) and modality.upper() in ("CT", "MR", "MRI"):
        return {"modality": modality.upper()[:2]}
    return {}
