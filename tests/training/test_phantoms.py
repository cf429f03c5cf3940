"""Phantoms: deterministic, truth consistent with the image, valid DICOM geometry."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom

from training.phantoms import brain_mr, chest_ct, write_dicom_series, write_truth


def test_chest_ct_is_deterministic_by_seed() -> None:
    a = chest_ct(11, size=96, slices=24)
    b = chest_ct(11, size=96, slices=24)
    c = chest_ct(12, size=96, slices=24)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.label, b.label)
    assert not np.array_equal(a.image, c.image)


def test_chest_ct_anatomy_and_nodules() -> None:
    ph = chest_ct(3, size=128, slices=40, n_lesions=3, min_diameter_mm=6.0)
    assert ph.image.dtype == np.int16 and ph.label.dtype == np.uint8
    assert ph.image.shape == ph.label.shape == (40, 128, 128)
    assert 0.6 <= ph.spacing[1] == ph.spacing[2] <= 0.9 and 0.625 <= ph.spacing[0] <= 2.5
    assert ph.image[:, 2, 2].mean() < -900  # air outside the body
    assert (ph.image > 300).any()  # bone
    assert ((ph.image > -950) & (ph.image < -750)).mean() > 0.05  # lung parenchyma
    assert len(ph.lesions) >= 1
    assert set(np.unique(ph.label)) == {0, *[les.id for les in ph.lesions]}
    for les in ph.lesions:
        z, y, x = les.center_voxel
        assert ph.label[z, y, x] == les.id or (ph.label == les.id).sum() > 0
        inside = ph.image[ph.label == les.id].mean()
        assert inside > -800  # nodules are denser than the lung around them
        assert les.kind in ("solid", "part-solid", "ground-glass")


def test_full_size_defaults_cover_the_chest() -> None:
    ph = chest_ct(5, size=64)
    assert abs(ph.image.shape[0] * ph.spacing[0] - 300) < 3


def test_brain_mr_has_hyperintense_lesions() -> None:
    ph = brain_mr(4, size=96, slices=48, n_lesions=3)
    assert ph.modality == "MR" and len(ph.lesions) >= 1
    brain = ph.image[ph.image > 300]
    lesion = ph.image[ph.label > 0]
    assert lesion.mean() > np.median(brain) * 1.3


def test_dicom_series_geometry_and_truth(tmp_path: Path) -> None:
    ph = chest_ct(8, size=64, slices=12, n_lesions=1)
    paths = write_dicom_series(ph, tmp_path / "dicom", patient_id="P1", patient_name="Doe^J",
                               accession="A1")
    assert len(paths) == 12
    first, last = pydicom.dcmread(paths[0]), pydicom.dcmread(paths[-1])
    assert first.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert first.SOPClassUID == pydicom.uid.CTImageStorage
    assert first.FrameOfReferenceUID == last.FrameOfReferenceUID
    assert first.SeriesInstanceUID == last.SeriesInstanceUID
    assert first.SOPInstanceUID != last.SOPInstanceUID
    assert [int(first.InstanceNumber), int(last.InstanceNumber)] == [1, 12]
    assert float(last.ImagePositionPatient[2]) - float(first.ImagePositionPatient[2]) == \
        np.float64(float(first.SliceThickness)) * 11 or abs(
            float(last.ImagePositionPatient[2]) - float(first.ImagePositionPatient[2])
            - ph.spacing[0] * 11) < 1e-3
    hu = first.pixel_array * float(first.RescaleSlope) + float(first.RescaleIntercept)
    assert np.array_equal(hu.astype(np.int16), np.clip(ph.image[0], -1024, 3071))
    write_truth(ph, tmp_path)
    doc = json.loads((tmp_path / "lesions.json").read_text())
    assert doc["lesions"][0]["id"] == 1
    lab = np.asarray(nib.load(tmp_path / "label.nii.gz").dataobj)
    assert np.array_equal(lab.transpose(2, 1, 0), ph.label)


def test_vessels_taper_and_end_thin() -> None:
    """Thick blunt vessel ends look like nodules in every plane; real vessels taper."""
    from training.phantoms.chest import TIP_RADIUS_MM, _grow_vessels, _Lung
    from training.phantoms.shapes import box_around

    shape, spacing = (100, 100, 100), (1.0, 1.0, 1.0)
    box = box_around((0, 0, 0), (99, 99, 99), shape, spacing)
    inside = np.sqrt((box.z - 50) ** 2 + (box.y - 50) ** 2 + (box.x - 50) ** 2) < 45
    lung = _Lung(cy=50, cx=50, ry=45, rx=45, box=box, frac=inside.astype(np.float32),
                 profile=np.ones(100, dtype=np.float32))
    segments = _grow_vessels(np.random.default_rng(0), [lung], 200.0, spacing)
    assert len(segments) > 20
    starts: dict[tuple[float, ...], list[float]] = {}
    for s in segments:
        starts.setdefault(tuple(np.round(s.a, 6)), []).append(s.radius)
    tips = 0
    for s in segments:
        assert s.end_radius <= s.radius
        children = starts.get(tuple(np.round(s.b, 6)))
        if children:  # a branch point: no child is thicker than the parent's end
            assert max(children) <= s.end_radius + 1e-9
        else:
            tips += 1
            assert s.end_radius <= TIP_RADIUS_MM
    assert tips >= 6


def test_juxta_vascular_truth_leaves_the_vessel_out() -> None:
    """The nodule abuts its vessel; the truth mask is the nodule, not the vessel under it."""
    checked = 0
    for seed in range(6):
        ph = chest_ct(seed, size=128, slices=48, n_lesions=4, min_diameter_mm=5.0)
        bare = chest_ct(seed, size=128, slices=48, n_lesions=0)  # same anatomy, no nodules
        for les in ph.lesions:
            if les.location != "juxta-vascular":
                continue
            under = bare.image[ph.label == les.id]
            assert under.size > 0
            assert (under < -300).mean() > 0.95  # lung, not vessel, under the truth mask
            # and the nodule is there in the image: denser than the lung it replaced
            assert ph.image[ph.label == les.id].mean() > under.mean() + 150
            checked += 1
    assert checked >= 3


def test_tapered_capsule_radius_runs_from_a_to_b() -> None:
    from training.phantoms.shapes import box_around, tapered_capsule_sd

    box = box_around((0, 0, 0), (40, 20, 20), (41, 21, 21), (1.0, 1.0, 1.0))
    a, b = np.array([5.0, 10.0, 10.0]), np.array([35.0, 10.0, 10.0])
    sd = tapered_capsule_sd(box, a, b, 4.0, 1.0)
    assert abs(sd[5, 10, 14]) < 1e-5 and abs(sd[35, 10, 11]) < 1e-5  # radius 4 at a, 1 at b
    assert abs(sd[20, 10, 12] - (2.0 - 2.5)) < 1e-5  # halfway: radius 2.5


def _ball(radius: float, size: int = 21) -> np.ndarray:
    g = np.indices((size, size, size)) - size // 2
    return (g ** 2).sum(axis=0) <= radius ** 2


def test_nodule_truth_cuts_an_abutting_vessel_out_but_keeps_a_swallowed_one() -> None:
    from training.phantoms.chest import LUNG_HU, nodule_truth

    ball = _ball(7.0)
    lung = np.full(ball.shape, LUNG_HU, dtype=np.float32)
    # a thin vessel grazing the ball's edge: cut out, the rest of the nodule stays the truth
    thin = lung.copy()
    thin[:, 2:5, 9:12] = 40.0
    truth = nodule_truth(ball, thin)
    assert truth is not None
    assert not (truth & (thin > -400)).any()
    assert truth.sum() > 0.9 * ball.sum()
    # a thick vessel seen end-on through the middle would leave a crescent: keep the whole ball
    thick = lung.copy()
    g = np.indices(ball.shape[1:]) - 10
    thick[:, (g ** 2).sum(axis=0) <= 6 ** 2] = 40.0
    truth = nodule_truth(ball, thick)
    assert truth is not None and np.array_equal(truth, ball)
    # a dense band splitting it in two: pieces are not a nodule, keep the whole ball
    band = lung.copy()
    band[9:12] = 40.0
    truth = nodule_truth(ball, band)
    assert truth is not None and np.array_equal(truth, ball)
    # nothing of it in lung: no nodule
    assert nodule_truth(ball, np.full(ball.shape, 40.0, dtype=np.float32)) is None
