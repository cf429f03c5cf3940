"""Readers, canonical orientation and the exact region-wise inverse resampling."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from inference import (
    InvalidVolumeError,
    Volume,
    measure_mask,
    read_dicom_dir,
    read_dicom_series,
    read_nifti,
    save_label_nifti,
)
from inference.grid import GridMap, canonical, coarse_to_fine_slices, resample, resample_region
from training.phantoms import brain_mr, chest_ct, save_nifti, write_dicom_series


def test_dicom_roundtrip_sorts_slices_and_applies_rescale(tmp_path: Path) -> None:
    ph = chest_ct(2, size=48, slices=10, n_lesions=0)
    paths = write_dicom_series(ph, tmp_path, patient_id="P", patient_name="X")
    vol = read_dicom_series(list(reversed(paths)))  # order on disk must not matter
    assert vol.array.dtype == np.float32
    assert np.array_equal(vol.array, ph.image.astype(np.float32))
    assert np.allclose(vol.spacing, ph.spacing) and np.allclose(vol.origin, ph.origin)
    assert np.allclose(vol.direction, np.eye(3))


def test_mr_dicom_roundtrip(tmp_path: Path) -> None:
    ph = brain_mr(2, size=32, slices=6, n_lesions=1)
    vol = read_dicom_series(write_dicom_series(ph, tmp_path, patient_id="P", patient_name="X"))
    assert np.array_equal(vol.array, ph.image.astype(np.float32))


def test_nifti_roundtrip_keeps_patient_geometry(tmp_path: Path) -> None:
    ph = chest_ct(3, size=32, slices=6, n_lesions=0)
    save_nifti(ph.image, ph.spacing, ph.origin, tmp_path / "img.nii.gz")
    vol = read_nifti(tmp_path / "img.nii.gz")
    assert np.array_equal(vol.array, ph.image.astype(np.float32))
    assert np.allclose(vol.spacing, ph.spacing) and np.allclose(vol.origin, ph.origin)
    assert np.allclose(vol.direction, np.eye(3))
    save_label_nifti((ph.image > 0).astype(np.uint8), vol, tmp_path / "lab.nii.gz")
    assert read_nifti(tmp_path / "lab.nii.gz").voxel_to_mm((1, 2, 3)) == vol.voxel_to_mm((1, 2, 3))


def test_canonical_undoes_flips_and_permutations() -> None:
    rng = np.random.default_rng(0)
    arr = rng.normal(size=(4, 5, 6)).astype(np.float32)
    ref = Volume(arr, (3.0, 2.0, 1.0), (10.0, 20.0, 30.0))
    # The same image stored with x flipped and the (z, x) axes swapped.
    stored = np.flip(arr, axis=2).transpose(2, 1, 0)
    direction = np.array([[0, 0, -1], [0, 1, 0], [1, 0, 0]], dtype=float)  # cols: x, y, z axes
    origin = ref.voxel_to_mm((0, 0, 5))
    other = Volume(np.ascontiguousarray(stored), (1.0, 2.0, 3.0), origin, direction)
    canon, ro = canonical(other)
    assert np.array_equal(canon.array, arr)
    assert np.allclose(canon.spacing, ref.spacing) and np.allclose(canon.origin, ref.origin)
    assert np.array_equal(ro.undo(canon.array), other.array)


def test_region_resampling_is_exactly_full_resampling() -> None:
    rng = np.random.default_rng(1)
    coarse = rng.random((7, 9, 11)).astype(np.float32)
    fine_shape = (13, 20, 17)
    full = resample(torch.from_numpy(coarse), fine_shape).numpy()
    region = (slice(2, 9), slice(0, 20), slice(5, 12))
    grid = GridMap.resize(fine_shape, coarse.shape)
    assert np.allclose(resample_region(coarse, grid, region), full[region], atol=1e-6)


def test_fine_slices_cover_every_fine_voxel_touching_the_box() -> None:
    coarse = np.zeros((10, 10, 10), np.float32)
    coarse[4:6, 4:6, 4:6] = 1.0
    fine = resample(torch.from_numpy(coarse), (23, 17, 31)).numpy()
    box = coarse_to_fine_slices((slice(4, 6),) * 3, GridMap.resize(fine.shape, coarse.shape))
    outside = fine.copy()
    outside[box] = 0
    assert outside.max() == 0 and fine[box].max() > 0.5


def test_measure_mask_known_answers() -> None:
    mask = np.zeros((5, 20, 20), bool)
    mask[2, 5, 3:13] = True  # a 10-voxel line along x
    diameter, volume, centroid = measure_mask(mask, (2.0, 0.5, 0.5))
    assert volume == 10 * 2.0 * 0.5 * 0.5
    assert diameter == 4.5 + 0.5  # centre-to-centre plus one voxel extent
    assert centroid == (2.0, 5.0, 7.5)
    zz, yy, xx = np.mgrid[:41, :41, :41]
    ball = (zz - 20) ** 2 + (yy - 20) ** 2 + (xx - 20) ** 2 <= 15**2
    d, v, _ = measure_mask(ball, (0.5, 0.5, 0.5))
    assert abs(d - 15.0) < 0.6 and abs(v - 4 / 3 * np.pi * 7.5**3) / v < 0.03


def test_window_matches_monai_scale_intensity_range() -> None:
    from monai.transforms import ScaleIntensityRange

    from inference.transforms import _window_inplace

    t = torch.linspace(-2000, 2000, 1001)
    expected = ScaleIntensityRange(-1000, 400, 0.0, 1.0, clip=True)(t.clone())
    got = _window_inplace(t.clone(), {"a_min": -1000, "a_max": 400})
    assert torch.allclose(torch.as_tensor(expected), got, atol=1e-6)


def test_inverted_components_equal_labelling_the_fully_resampled_probability() -> None:
    from scipy import ndimage

    from inference.candidates import CONNECTIVITY
    from inference.engine import invert_components

    rng = np.random.default_rng(5)
    coarse = np.zeros((40, 44, 36), dtype=np.float32)
    # blobs of several sizes, two of them one voxel apart, one on the border, one in a block corner
    for (z, y, x, r) in [(10, 10, 10, 3.0), (10, 10, 17, 3.0), (30, 30, 20, 5.0), (0, 43, 35, 2.5),
                         (23, 8, 30, 1.2), (16, 24, 24, 1.0)]:
        g = np.mgrid[:40, :44, :36].astype(np.float32)
        d = np.sqrt((g[0] - z) ** 2 + (g[1] - y) ** 2 + (g[2] - x) ** 2)
        coarse = np.maximum(coarse, np.clip(1.0 - d / (2 * r), 0, 1) * rng.uniform(0.7, 1.0))
    fine_shape = (63, 70, 81)
    comps = invert_components(coarse, GridMap.resize(fine_shape, coarse.shape), threshold=0.5,
                              min_voxels=1)
    full = resample(coarse, fine_shape)
    labels, n = ndimage.label(full >= 0.5, structure=CONNECTIVITY)
    expected = sorted(tuple(np.flatnonzero(labels == k)) for k in range(1, n + 1))
    got = []
    for c in comps:
        m = np.zeros(fine_shape, dtype=bool)
        m[c.box] = c.mask
        got.append(tuple(np.flatnonzero(m)))
    assert n >= 4 and sorted(got) == expected


def _enhanced_ct(paths: list[Path], out: Path, order: list[int]) -> Path:
    """The single-frame slices `paths` as one Enhanced CT file (frames stored in `order`, each
    with its own position and rescale, shared spacing and orientation): how modern scanners
    export a series."""
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    slices = [pydicom.dcmread(p) for p in paths]
    first = slices[0]

    def item(**kw: Any) -> Dataset:
        d = Dataset()
        for k, v in kw.items():
            setattr(d, k, v)
        return d

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2.1"  # Enhanced CT
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    for key in ("PatientID", "PatientName", "StudyInstanceUID", "SeriesInstanceUID", "Modality",
                "FrameOfReferenceUID", "Rows", "Columns", "SamplesPerPixel",
                "PhotometricInterpretation", "BitsAllocated", "BitsStored", "HighBit",
                "PixelRepresentation"):
        setattr(ds, key, getattr(first, key))
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.NumberOfFrames = len(order)
    ds.SharedFunctionalGroupsSequence = [item(
        PixelMeasuresSequence=[item(PixelSpacing=first.PixelSpacing,
                                    SliceThickness=first.SliceThickness)],
        PlaneOrientationSequence=[item(ImageOrientationPatient=first.ImageOrientationPatient)])]
    frames, groups = [], []
    for k in order:  # stored values shifted by k, undone by each frame's own intercept
        px = slices[k].pixel_array.astype(np.int16) - k
        frames.append(px)
        groups.append(item(
            PlanePositionSequence=[item(ImagePositionPatient=slices[k].ImagePositionPatient)],
            PixelValueTransformationSequence=[item(
                RescaleSlope="1", RescaleIntercept=str(float(slices[k].RescaleIntercept) + k),
                RescaleType="HU")]))
    ds.PerFrameFunctionalGroupsSequence = groups
    ds.PixelData = np.stack(frames).astype(np.int16).tobytes()
    ds.save_as(out, enforce_file_format=True)
    return out


def test_enhanced_multiframe_ct_reads_as_its_single_frame_series(tmp_path: Path) -> None:
    paths = write_dicom_series(chest_ct(3, size=24, slices=5, n_lesions=1), tmp_path / "single",
                               patient_id="P", patient_name="X")
    expected = read_dicom_series(paths)
    enhanced = _enhanced_ct(paths, tmp_path / "enhanced.dcm", order=[3, 0, 4, 1, 2])
    got = read_dicom_series([enhanced])
    assert np.array_equal(got.array, expected.array)
    assert np.allclose(got.spacing, expected.spacing) and np.allclose(got.origin, expected.origin)
    assert np.allclose(got.direction, expected.direction)
    assert read_dicom_dir(tmp_path / "single").shape == got.shape  # and from a folder
    (tmp_path / "only").mkdir()
    enhanced.rename(tmp_path / "only" / "enhanced.dcm")
    assert np.array_equal(read_dicom_dir(tmp_path / "only").array, expected.array)


def test_enhanced_multiframe_without_frame_positions_is_refused(tmp_path: Path) -> None:
    import pydicom

    paths = write_dicom_series(chest_ct(3, size=24, slices=3, n_lesions=0), tmp_path / "s",
                               patient_id="P", patient_name="X")
    enhanced = _enhanced_ct(paths, tmp_path / "e.dcm", order=[0, 1, 2])
    ds = pydicom.dcmread(enhanced)
    del ds.PerFrameFunctionalGroupsSequence[1].PlanePositionSequence
    ds.save_as(enhanced)
    with pytest.raises(InvalidVolumeError, match="e.dcm frame 2: missing or malformed geometry"):
        read_dicom_series([enhanced])
    ds.PerFrameFunctionalGroupsSequence = ds.PerFrameFunctionalGroupsSequence[:2]
    ds.save_as(enhanced)
    with pytest.raises(InvalidVolumeError, match="3 frames but 2 per-frame functional groups"):
        read_dicom_series([enhanced])
    del ds.PerFrameFunctionalGroupsSequence  # e.g. a cine loop: no position per frame
    ds.save_as(enhanced)
    with pytest.raises(InvalidVolumeError, match="3 frames without per-frame functional groups"):
        read_dicom_series([enhanced])
    with pytest.raises(InvalidVolumeError, match="duplicate slice positions"):
        read_dicom_series([_enhanced_ct(paths, tmp_path / "d.dcm", order=[0, 1, 2]), *paths])


def test_a_series_split_into_enhanced_files_reads_as_one(tmp_path: Path) -> None:
    """Scanners also write an enhanced series as several files, down to one frame each."""
    paths = write_dicom_series(chest_ct(3, size=24, slices=5, n_lesions=1), tmp_path / "single",
                               patient_id="P", patient_name="X")
    expected = read_dicom_series(paths)
    split = [_enhanced_ct(paths, tmp_path / "e1.dcm", order=[4, 0, 2]),
             _enhanced_ct(paths, tmp_path / "e2.dcm", order=[3, 1])]
    assert np.array_equal(read_dicom_series(split).array, expected.array)
    each = [_enhanced_ct(paths, tmp_path / f"f{k}.dcm", order=[k]) for k in range(5)]
    assert np.array_equal(read_dicom_series(each[::-1]).array, expected.array)
