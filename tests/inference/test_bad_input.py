"""Every bad input ends in a clear InferenceError subclass, never a crash or a silent result."""

from __future__ import annotations

import json
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from inference import (
    BundleError,
    InferenceCancelled,
    InvalidVolumeError,
    Volume,
    load_bundle,
    read_dicom_series,
    run_inference,
)


def _volume(shape=(16, 32, 32), spacing=(2.0, 2.0, 2.0)) -> Volume:
    return Volume(array=np.zeros(shape, np.float32) - 800, spacing=spacing, origin=(0, 0, 0))


def _zip(src: Path, dst: Path, extra: list[tuple[zipfile.ZipInfo | str, bytes]] = ()) -> Path:
    with zipfile.ZipFile(dst, "w") as zf:
        for p in src.rglob("*"):
            if p.is_file():
                zf.write(p, p.relative_to(src).as_posix())
        for info, data in extra:
            zf.writestr(info, data)
    return dst


def test_zip_bundle_loads(tiny_bundle: Path, tmp_path: Path) -> None:
    b = load_bundle(_zip(tiny_bundle, tmp_path / "ok.zip"))
    assert b.version == "0.1.0" and b.in_channels == 1


def test_zip_with_parent_path_is_refused(tiny_bundle: Path, tmp_path: Path) -> None:
    z = _zip(tiny_bundle, tmp_path / "evil.zip", [("../evil.txt", b"x")])
    with pytest.raises(BundleError, match="unsafe path"):
        load_bundle(z)
    assert not (tmp_path.parent / "evil.txt").exists()


def test_zip_with_symlink_is_refused(tiny_bundle: Path, tmp_path: Path) -> None:
    info = zipfile.ZipInfo("configs/link")
    info.external_attr = (0o120777 << 16)
    z = _zip(tiny_bundle, tmp_path / "link.zip", [(info, b"/etc/passwd")])
    with pytest.raises(BundleError, match="symlink"):
        load_bundle(z)


def test_symlinked_weights_in_directory_are_refused(tiny_bundle: Path) -> None:
    w = tiny_bundle / "models" / "model.pt"
    os.replace(w, tiny_bundle / "real.pt")
    w.symlink_to(tiny_bundle / "real.pt")
    with pytest.raises(BundleError):
        load_bundle(tiny_bundle)


class Evil:
    def __reduce__(self):  # would run code if unpickled without weights_only
        return (os.system, ("echo pwned",))


def test_pickled_object_in_weights_is_refused(tiny_bundle: Path) -> None:
    with open(tiny_bundle / "models" / "model.pt", "wb") as f:
        pickle.dump({"w": Evil()}, f)
    with pytest.raises(BundleError, match="state dict"):
        load_bundle(tiny_bundle)


def test_non_tensor_state_dict_is_refused(tiny_bundle: Path) -> None:
    torch.save({"w": [1, 2, 3]}, tiny_bundle / "models" / "model.pt")
    with pytest.raises(BundleError, match="dict of tensors"):
        load_bundle(tiny_bundle)


@pytest.mark.parametrize("wrap", [
    lambda sd: {"model": sd, "optimizer": {"state": {}, "param_groups": [{"lr": 1e-3}]},
                "epoch": 7},  # MONAI CheckpointSaver / MONAI Label
    lambda sd: {"state_dict": sd, "epoch": 7},
    lambda sd: {f"module.{k}": v for k, v in sd.items()},  # saved from DataParallel
])
def test_training_checkpoints_load_as_their_weights(tiny_bundle: Path, wrap: Any) -> None:
    plain = load_bundle(tiny_bundle)
    torch.save(wrap(plain.state_dict), tiny_bundle / "models" / "model.pt")
    loaded = load_bundle(tiny_bundle)
    assert loaded.state_dict.keys() == plain.state_dict.keys()
    assert all(torch.equal(loaded.state_dict[k], v) for k, v in plain.state_dict.items())


def test_a_torchscript_only_bundle_is_refused_with_the_reason(tiny_bundle: Path) -> None:
    weights = tiny_bundle / "models" / "model.pt"
    weights.rename(weights.with_suffix(".ts"))
    with pytest.raises(BundleError, match="only a TorchScript model.ts"):
        load_bundle(tiny_bundle)


def test_weights_that_do_not_fit_are_refused(tiny_bundle: Path) -> None:
    torch.save({"w": torch.zeros(3)}, tiny_bundle / "models" / "model.pt")
    with pytest.raises(BundleError, match="do not fit"):
        load_bundle(tiny_bundle)


@pytest.mark.parametrize("mutate, message", [
    (lambda c: c.pop("network_def"), "network_def"),
    (lambda c: c.update(roi_size="big"), "roi_size"),
    (lambda c: c.update(threshold=2.0), "threshold"),
    (lambda c: c.update(grid="corners"), "grid must be extent or spacing"),
    (lambda c: c.update(target_spacing=[1.0, 0.0, 1.0]), "needs grid 'spacing'"),
    (lambda c: c.update(target_spacing=[1.0, -1.0, 1.0]), "target_spacing"),
    (lambda c: c["network_def"].update(_target_="os.system"), "MONAI network"),
    (lambda c: c["network_def"].update(channels="$__import__('os')"), "expressions"),
])
def test_bad_config_keys(tiny_bundle: Path, mutate, message: str) -> None:
    path = tiny_bundle / "configs" / "inference.json"
    config = json.loads(path.read_text())
    mutate(config)
    path.write_text(json.dumps(config))
    with pytest.raises(BundleError, match=message):
        load_bundle(tiny_bundle)


def test_missing_metadata_version(tiny_bundle: Path) -> None:
    (tiny_bundle / "configs" / "metadata.json").write_text("{}")
    with pytest.raises(BundleError, match="version"):
        load_bundle(tiny_bundle)


def test_wrong_input_channels(tmp_path: Path, bundle_factory) -> None:
    from monai.networks.nets import UNet  # noqa: F401 - the bundle's network must import

    net = {"_target_": "monai.networks.nets.UNet", "spatial_dims": 3, "in_channels": 3,
           "out_channels": 2, "channels": [4, 8], "strides": [2], "num_res_units": 0}
    path = bundle_factory(tmp_path / "b", network=net)
    with pytest.raises(BundleError, match="input channels"):
        load_bundle(path)


def test_multichannel_volume_is_refused(tiny_bundle: Path) -> None:
    vol = Volume(array=np.zeros((2, 8, 8, 8), np.float32), spacing=(1, 1, 1), origin=(0, 0, 0))
    with pytest.raises(InvalidVolumeError, match="channel"):
        run_inference(load_bundle(tiny_bundle), vol)


@pytest.mark.parametrize("volume, message", [
    (Volume(array=np.full((8, 8, 8), np.nan, np.float32), spacing=(1, 1, 1), origin=(0, 0, 0)),
     "NaN"),
    (Volume(array=np.full((8, 8, 8), np.inf, np.float32), spacing=(1, 1, 1), origin=(0, 0, 0)),
     "NaN"),
    (_volume(spacing=(0.0, 1.0, 1.0)), "spacing"),
    (Volume(array=np.zeros((0, 8, 8), np.float32), spacing=(1, 1, 1), origin=(0, 0, 0)),
     "empty"),
])
def test_bad_volumes(tiny_bundle: Path, volume: Volume, message: str) -> None:
    with pytest.raises(InvalidVolumeError, match=message):
        run_inference(load_bundle(tiny_bundle), volume)


def test_too_large_volume_is_refused_before_allocating(tiny_bundle: Path) -> None:
    # A broadcast view claims 4e10 voxels without owning the memory.
    huge = np.broadcast_to(np.float32(0), (4000, 100_000, 100))
    with pytest.raises(InvalidVolumeError, match="exceeds"):
        run_inference(load_bundle(tiny_bundle), Volume(huge, (1, 1, 1), (0, 0, 0)))


def test_upsampling_to_a_huge_grid_is_refused(tiny_bundle: Path) -> None:
    vol = _volume(shape=(8, 8, 8), spacing=(5000.0, 5000.0, 5000.0))
    with pytest.raises(InvalidVolumeError, match="exceeds"):
        run_inference(load_bundle(tiny_bundle), vol)


def test_dicom_reader_refuses_huge_series_from_headers(tmp_path: Path) -> None:
    from training.phantoms import chest_ct, write_dicom_series

    paths = write_dicom_series(chest_ct(1, size=32, slices=4, n_lesions=0), tmp_path,
                               patient_id="P", patient_name="X")
    with pytest.raises(InvalidVolumeError, match="exceeds"):
        read_dicom_series(paths, max_voxels=1000)


def test_cancel_raises(tiny_bundle: Path) -> None:
    with pytest.raises(InferenceCancelled):
        run_inference(load_bundle(tiny_bundle), _volume(), should_cancel=lambda: True)


def test_dicom_files_from_two_series_are_refused(tmp_path: Path) -> None:
    from training.phantoms import chest_ct, write_dicom_series

    a = write_dicom_series(chest_ct(1, size=32, slices=3, n_lesions=0), tmp_path / "a",
                           patient_id="P", patient_name="X")
    b = write_dicom_series(chest_ct(2, size=32, slices=3, n_lesions=0), tmp_path / "b",
                           patient_id="P", patient_name="X")
    with pytest.raises(InvalidVolumeError, match="more than one series"):
        read_dicom_series(a + b)


def test_non_dicom_file_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"not a dicom file at all")
    with pytest.raises(InvalidVolumeError, match="not a readable DICOM"):
        read_dicom_series([junk])


def _export_folder(root: Path) -> dict[str, list[Path]]:
    """A folder as a CD export leaves it: two CT series, a DICOMDIR index, a report object
    without pixels and a text file."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    from training.phantoms import chest_ct, write_dicom_series

    series = {"a": write_dicom_series(chest_ct(1, size=32, slices=3, n_lesions=0), root / "a",
                                      patient_id="P", patient_name="X"),
              "b": write_dicom_series(chest_ct(2, size=24, slices=5, n_lesions=0), root / "b",
                                      patient_id="P", patient_name="X")}
    for name, sop_class in (("DICOMDIR", "1.2.840.10008.1.3.10"),
                            ("report.dcm", "1.2.840.10008.5.1.4.1.1.88.11")):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = sop_class
        ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID, ds.SeriesInstanceUID = sop_class, generate_uid()
        ds.save_as(root / name, enforce_file_format=True)
    (root / "README.TXT").write_text("exported by a PACS")
    return series


def _uid(paths: list[Path]) -> str:
    import pydicom

    return str(pydicom.dcmread(paths[0], stop_before_pixels=True).SeriesInstanceUID)


def test_dicom_folder_with_several_series_names_them_and_one_is_picked(tmp_path: Path) -> None:
    from inference import read_dicom_dir

    series = _export_folder(tmp_path)
    with pytest.raises(InvalidVolumeError, match="holds 2 image series") as err:
        read_dicom_dir(tmp_path)
    assert _uid(series["a"]) in str(err.value) and "3 files" in str(err.value)
    assert _uid(series["b"]) in str(err.value) and "5 files" in str(err.value)
    # the index, the report and the text file are passed over, not read as slices
    assert read_dicom_dir(tmp_path, series_uid=_uid(series["b"])).shape == (5, 24, 24)
    with pytest.raises(InvalidVolumeError, match="no series 1.2.3"):
        read_dicom_dir(tmp_path, series_uid="1.2.3")
    assert read_dicom_dir(tmp_path / "a").shape == (3, 32, 32)  # one series: no choice needed


def test_dicom_folder_without_images_is_refused(tmp_path: Path) -> None:
    from inference import read_dicom_dir

    (tmp_path / "notes.txt").write_text("no images here")
    (tmp_path / "empty.dcm").write_bytes(b"")
    with pytest.raises(InvalidVolumeError, match=r"no DICOM images found \(2 other files\)"):
        read_dicom_dir(tmp_path)


def test_cli_asks_for_a_series_and_runs_the_one_picked(tiny_bundle: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from inference.__main__ import main

    series = _export_folder(tmp_path / "export")
    out = tmp_path / "out"
    assert main(["run", "--bundle", str(tiny_bundle), "--input", str(tmp_path / "export"),
                 "--out", str(out)]) == 2
    assert "holds 2 image series" in capsys.readouterr().err and not out.exists()
    assert main(["run", "--bundle", str(tiny_bundle), "--input", str(tmp_path / "export"),
                 "--out", str(out), "--series", _uid(series["a"])]) == 0
    assert json.loads((out / "candidates.json").read_text())["candidates"] is not None


def test_colour_dicom_is_refused_with_a_reason(tmp_path: Path) -> None:
    import pydicom

    from training.phantoms import chest_ct, write_dicom_series

    path = write_dicom_series(chest_ct(1, size=16, slices=1, n_lesions=0), tmp_path,
                              patient_id="P", patient_name="X")[0]
    ds = pydicom.dcmread(path)
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = bytes(16 * 16 * 3)
    ds.save_as(path)
    with pytest.raises(InvalidVolumeError, match="colour or multi-sample images are not supported"):
        read_dicom_series([path])
