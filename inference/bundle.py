"""MONAI bundles: load from a directory or zip, validate, and keep everything in memory.

Layout: `configs/metadata.json`, `configs/inference.json` (or `.yaml`, as MONAI allows),
`models/model.pt` (and, for a
bundle with a second detection stage, its `second_stage` section in inference.json and
`models/second_stage.pt`). Only a `network_def` is instantiated (through
monai.bundle.ConfigParser) and its `_target_` must be a MONAI network: a bundle is data, so
expressions (`$...`) that would run code are refused.
"""

from __future__ import annotations

import inspect
import json
import math
import pickle
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import torch
import yaml

from .errors import BundleError
from .grid import model_axes
from .second_stage import CONFIG_KEY as SECOND_STAGE_KEY
from .second_stage import WEIGHTS as SECOND_STAGE_WEIGHTS
from .second_stage import SecondStage, check_classifier, parse_params
from .transforms import INTENSITY_MODES
from .zoo import declared_modality, foreground_channels, with_references, zoo_params

MAX_ZIP_BYTES = 512 * 1024**2  # uncompressed; a starter model is a few MB
METADATA = "configs/metadata.json"
INFERENCE = "configs/inference.json"
INFERENCE_YAML = ("configs/inference.yaml", "configs/inference.yml")  # read when no .json
MAX_CONFIG_BYTES = 8 * 1024**2  # the largest zoo inference configs are a few hundred kB
WEIGHTS = "models/model.pt"

# Preprocessing / postprocessing parameters with defaults; read from inference.json.
DEFAULTS: dict[str, Any] = {
    "modality": "CT",
    # mm per axis of the model's array (model_axcodes); 0 keeps the scan's own spacing on that
    # axis (Spacingd's pixdim <= 0; grid "spacing" only)
    "target_spacing": [1.0, 1.0, 1.0],
    # Where the resampled grid sits: "extent" keeps the scan's outer extent, the spacing rounded
    # to fit (MONAI Resized; Nodus's own bundles); "spacing" keeps the first voxel's centre and
    # the exact spacing (MONAI Spacingd; zoo bundles that resample with it).
    "grid": "extent",
    # The direction each axis of the model's input increases towards (MONAI Orientationd's
    # codes): "SPL" is Nodus's canonical (z, y, x) array; MONAI zoo bundles are usually "RAS".
    "model_axcodes": "SPL",
    # How the network's output becomes a probability: "softmax" over the classes (Nodus's own
    # two-class networks), "sigmoid" per channel (multi-label networks; any one-channel one).
    "activation": "softmax",
    "intensity": {"mode": "window", "a_min": -1000.0, "a_max": 400.0},
    "denoise_sigma": 0.0,  # Gaussian sigma in voxels of the target grid; 0 = off
    "roi_size": [96, 96, 96],
    "sw_batch_size": 2,
    "sw_overlap": 0.25,
    "sw_mode": "gaussian",
    "threshold": 0.5,
    "min_component_mm3": 10.0,
    # Candidates whose peak probability stays below this are dropped: the operating point of
    # the detector (0 keeps every component above `threshold`).
    "min_probability": 0.0,
}


@dataclass
class Bundle:
    """A validated bundle held in memory (the source directory or zip may go away)."""

    name: str
    version: str
    metadata: dict[str, Any]
    config: dict[str, Any]  # the raw inference.json
    params: dict[str, Any]  # DEFAULTS overridden by inference.json
    network: torch.nn.Module
    source: Path | None = None
    state_dict: dict[str, torch.Tensor] = field(default_factory=dict)
    second_stage: SecondStage | None = None

    @property
    def in_channels(self) -> int:
        return int(self.config["network_def"].get("in_channels", 1))

    @property
    def out_channels(self) -> int:
        return int(self.config["network_def"].get("out_channels", 2))


def load_bundle(path: Path | str, *, max_zip_bytes: int = MAX_ZIP_BYTES) -> Bundle:
    """Load and validate a bundle directory or zip; raise BundleError with the reason."""
    p = Path(path)
    if not p.exists():
        raise BundleError(f"bundle not found: {p}")
    if p.is_dir():
        return _load_dir(p, source=p)
    if not zipfile.is_zipfile(p):
        raise BundleError(f"{p.name}: neither a directory nor a zip file")
    tmp = Path(tempfile.mkdtemp(prefix="nodus-bundle-"))
    try:
        root = _safe_extract(p, tmp, max_zip_bytes)
        return _load_dir(root, source=p)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _safe_extract(zpath: Path, dest: Path, max_bytes: int) -> Path:
    """Extract refusing absolute paths, `..`, symlinks, and zip bombs; return the bundle root."""
    with zipfile.ZipFile(zpath) as zf:
        infos = zf.infolist()
        total = 0
        for info in infos:
            name = PurePosixPath(info.filename.replace("\\", "/"))
            if name.is_absolute() or ".." in name.parts or (name.parts and ":" in name.parts[0]):
                raise BundleError(f"unsafe path in bundle zip: {info.filename!r}")
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise BundleError(f"symlink in bundle zip: {info.filename!r}")
            total += info.file_size
            if total > max_bytes:
                raise BundleError(f"bundle zip expands beyond {max_bytes} bytes")
        for info in infos:
            target = dest / info.filename
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out)
    if (dest / METADATA).exists():
        return dest
    subdirs = [d for d in dest.iterdir() if d.is_dir() and (d / METADATA).exists()]
    if len(subdirs) == 1:
        return subdirs[0]
    raise BundleError(f"bundle zip has no {METADATA} at its top level or in one folder")


def _read_json(path: Path) -> dict[str, Any]:
    if path.is_symlink():
        raise BundleError(f"{path.name} is a symlink")
    if not path.is_file():
        raise BundleError(f"missing {path.parent.name}/{path.name}")
    try:
        doc = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"{path.name} is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise BundleError(f"{path.name} must hold a JSON object")
    return doc


def _read_config(root: Path) -> dict[str, Any]:
    """inference.json, else MONAI's YAML spelling of it."""
    if not (root / INFERENCE).exists():
        for name in INFERENCE_YAML:
            if (root / name).exists() or (root / name).is_symlink():
                return _read_yaml(root / name)
    return _read_json(root / INFERENCE)


def _read_yaml(path: Path) -> dict[str, Any]:
    """Plain data only: YAML's safe subset, no aliases (a few lines of them can expand to
    gigabytes), nothing JSON could not hold."""
    if path.is_symlink():
        raise BundleError(f"{path.name} is a symlink")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise BundleError(f"{path.name} is larger than {MAX_CONFIG_BYTES} bytes")
    try:
        text = path.read_text()
        if any(isinstance(e, yaml.AliasEvent) for e in yaml.parse(text, Loader=yaml.SafeLoader)):
            raise BundleError(f"{path.name}: YAML aliases (*name) are not allowed")
        doc = yaml.safe_load(text)
        json.dumps(doc)
    except (yaml.YAMLError, UnicodeDecodeError, TypeError, ValueError) as exc:
        raise BundleError(f"{path.name} is not plain YAML data: {str(exc)[:200]}") from exc
    if not isinstance(doc, dict):
        raise BundleError(f"{path.name} must hold a mapping")
    return doc


def _check_no_expressions(node: Any, where: str) -> None:
    if isinstance(node, str) and node[:1] in ("$", "%"):
        raise BundleError(f"{where}: expressions are not allowed in network_def ({node[:40]!r})")
    if isinstance(node, dict):
        for k, v in node.items():
            _check_no_expressions(v, f"{where}.{k}")
    if isinstance(node, list):
        for i, v in enumerate(node):
            _check_no_expressions(v, f"{where}[{i}]")


def _intensity_ok(value: Any) -> bool:
    """A known mode, booleans for the flags, finite numbers for the rest, a window with
    a_min < a_max, percentiles with 0 <= lower < upper <= 100."""
    if not isinstance(value, dict) or value.get("mode") not in INTENSITY_MODES:
        return False
    for key, v in value.items():
        if key in ("clip", "nonzero"):
            if not isinstance(v, bool):
                return False
        elif key != "mode" and (isinstance(v, bool) or not isinstance(v, int | float)
                                or not math.isfinite(v)):
            return False
    if value["mode"] == "window":
        return "a_min" in value and "a_max" in value and value["a_min"] < value["a_max"]
    if value["mode"] == "percentile":
        return 0 <= value.get("lower", 0.5) < value.get("upper", 99.5) <= 100
    return True


def _resolve_params(config: dict[str, Any], metadata: dict[str, Any] | None = None
                    ) -> dict[str, Any]:
    """DEFAULTS, then what a MONAI zoo bundle's metadata and preprocessing/inferer sections
    say, then Nodus's own flat keys; every value checked."""
    params = dict(DEFAULTS)
    source = {**declared_modality(metadata or {}), **zoo_params(config),
              **{k: config[k] for k in DEFAULTS if k in config}}
    for key, default in DEFAULTS.items():
        if key not in source:
            continue
        value = source[key]
        if isinstance(default, list):
            ok = (isinstance(value, list) and len(value) == 3
                  and all(isinstance(v, int | float) and not isinstance(v, bool)
                          and (v > 0 or (v == 0 and key == "target_spacing")) for v in value))
        elif isinstance(default, dict):
            ok = _intensity_ok(value)
        elif isinstance(default, float):
            ok = isinstance(value, int | float) and not isinstance(value, bool) and value >= 0
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
        else:
            ok = isinstance(value, str)
        if not ok:
            raise BundleError(f"inference.json: bad value for {key!r}: {value!r}")
        params[key] = value
    try:
        model_axes(str(params["model_axcodes"]))
    except ValueError as exc:
        raise BundleError(f"inference.json: model_axcodes: {exc}") from exc
    if params["grid"] not in ("extent", "spacing"):
        raise BundleError(f"inference.json: grid must be extent or spacing, got "
                          f"{params['grid']!r}")
    if 0 in params["target_spacing"] and params["grid"] != "spacing":
        raise BundleError("inference.json: a target_spacing of 0 (keep the scan's spacing on "
                          "that axis, as Spacingd's pixdim <= 0) needs grid 'spacing'")
    if params["activation"] not in ("softmax", "sigmoid"):
        raise BundleError(f"inference.json: activation must be softmax or sigmoid, got "
                          f"{params['activation']!r}")
    if params["sw_mode"] not in ("constant", "gaussian"):
        raise BundleError(f"inference.json: sw_mode must be constant or gaussian, got "
                          f"{params['sw_mode']!r}")
    if params["modality"] not in ("CT", "MR"):
        raise BundleError(f"inference.json: modality must be CT or MR, got {params['modality']!r}")
    if not 0 <= float(params["sw_overlap"]) < 1 or not 0 < float(params["threshold"]) < 1:
        raise BundleError("inference.json: sw_overlap must be in [0, 1), threshold in (0, 1)")
    if not 0 <= float(params["min_probability"]) < 1:
        raise BundleError("inference.json: min_probability must be in [0, 1)")
    return params


# Arguments MONAI has removed from a network that bundles made for older releases still pass;
# they only declared what the sliding window now sets (SwinUNETR's input size, gone in 1.5).
REMOVED_ARGS = {"SwinUNETR": ("img_size",)}


def build_network(config: dict[str, Any], where: str = "network_def") -> torch.nn.Module:
    """Instantiate `network_def` via ConfigParser after checking it names a MONAI network."""
    from monai.bundle import ConfigParser

    net_def = config.get("network_def")
    if not isinstance(net_def, dict) or "_target_" not in net_def:
        raise BundleError(f"inference.json: missing '{where}' with a '_target_'")
    _check_no_expressions(net_def, where)
    target = str(net_def["_target_"])
    short = target.rsplit(".", 1)[-1]
    import monai.networks.nets as nets

    if not (target == short or target.startswith("monai.networks.nets.")) or not hasattr(
            nets, short):
        raise BundleError(f"{where}._target_ must be a MONAI network, got {target!r}")
    removed = [k for k in REMOVED_ARGS.get(short, ()) if k in net_def
               and k not in inspect.signature(getattr(nets, short).__init__).parameters]
    net_def = {k: v for k, v in net_def.items() if k not in removed}
    parser = ConfigParser({"network_def": net_def})
    try:
        net = parser.get_parsed_content("network_def")
    except Exception as exc:  # noqa: BLE001 - any construction failure is a bad bundle
        raise BundleError(f"cannot build {where}: {exc}") from exc
    if not isinstance(net, torch.nn.Module):
        raise BundleError(f"{where} did not produce a torch module")
    return net


CHECKPOINT_KEYS = ("state_dict", "model", "network")


def load_state_dict(path: Path, name: str = WEIGHTS) -> dict[str, torch.Tensor]:
    if path.is_symlink() or not path.is_file():
        if path.with_suffix(".ts").is_file():
            raise BundleError(f"missing {name}: the bundle has only a TorchScript "
                              f"{path.with_suffix('.ts').name}, which Nodus does not run (it "
                              f"loads plain weights only); add the state dict as {name}")
        raise BundleError(f"missing {name}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, AttributeError,
            TypeError) as exc:
        raise BundleError(f"{name} is not a plain tensor state dict: "
                          f"{str(exc).splitlines()[0][:200]}") from exc
    # A training checkpoint holds the weights under a key beside the optimizer's state (MONAI's
    # CheckpointSaver and MONAI Label save {"model": ...}); DataParallel prefixes "module."
    for key in CHECKPOINT_KEYS:
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not obj or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
        raise BundleError(f"{name} must hold a dict of tensors (or a checkpoint with one under "
                          f"{' / '.join(CHECKPOINT_KEYS)})")
    if all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return obj


def _load_weights(net: torch.nn.Module, state: dict[str, torch.Tensor], where: str) -> None:
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise BundleError(f"weights do not fit {where}: {str(exc)[:300]}") from exc
    net.eval()


def _load_second_stage(root: Path, section: Any) -> SecondStage:
    params = parse_params(section)
    where = f"{SECOND_STAGE_KEY}.network_def"
    net = build_network(section, where)
    state = load_state_dict(root / SECOND_STAGE_WEIGHTS, SECOND_STAGE_WEIGHTS)
    _load_weights(net, state, where)
    check_classifier(net, params.patch)
    return SecondStage(network=net, params=params, state_dict=state)


def _load_dir(root: Path, *, source: Path) -> Bundle:
    metadata = _read_json(root / METADATA)
    config = _read_config(root)
    version = metadata.get("version")
    if not isinstance(version, str) or not version:
        raise BundleError("metadata.json: missing 'version'")
    params = _resolve_params(config, metadata)
    if isinstance(config.get("network_def"), dict):
        _check_no_expressions(config["network_def"], "network_def")
        config = {**config, "network_def": with_references(config, config["network_def"],
                                                           "network_def")}
    net = build_network(config)
    in_ch = int(config["network_def"].get("in_channels", 1))
    declared = (metadata.get("network_data_format", {}).get("inputs", {}).get("image", {})
                .get("num_channels", in_ch))
    if in_ch != 1 or declared != 1:
        raise BundleError(f"model expects {in_ch} input channels (metadata says {declared}); "
                          "Nodus feeds single-channel CT/MR volumes")
    out_channels = int(config["network_def"].get("out_channels", 2))
    if out_channels == 1:
        params["activation"] = "sigmoid"
    params["foreground_channels"] = foreground_channels(config, metadata, out_channels,
                                                        str(params["activation"]))
    state = load_state_dict(root / WEIGHTS)
    _load_weights(net, state, "network_def")
    second = (_load_second_stage(root, config[SECOND_STAGE_KEY])
              if SECOND_STAGE_KEY in config else None)
    return Bundle(
        name=str(metadata.get("name", root.name)),
        version=version,
        metadata=metadata,
        config=config,
        params=params,
        network=net,
        source=source,
        state_dict=state,
        second_stage=second,
    )


def write_bundle(
    out_dir: Path, *, metadata: dict[str, Any], config: dict[str, Any],
    state_dict: dict[str, torch.Tensor],
    second_stage_state: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Write a bundle directory (used by training's export and the starter models); a second
    stage's weights go with a config that has its section."""
    out_dir = Path(out_dir)
    (out_dir / "configs").mkdir(parents=True, exist_ok=True)
    (out_dir / "models").mkdir(parents=True, exist_ok=True)
    (out_dir / METADATA).write_text(json.dumps(metadata, indent=2) + "\n")
    (out_dir / INFERENCE).write_text(json.dumps(config, indent=2) + "\n")
    for name, state in ((WEIGHTS, state_dict), (SECOND_STAGE_WEIGHTS, second_stage_state)):
        if state is None:
            continue
        tmp = out_dir / (name + ".tmp")
        torch.save({k: v.detach().cpu().contiguous() for k, v in state.items()}, tmp)
        tmp.replace(out_dir / name)
    return out_dir
