"""Beyond chest CT: an MR volume, a single-frame 2D radiograph (DX) and a colour ultrasound image
open, render, window and take a saved stroke; restoring an old revision from the history panel
makes a new head whose volume is the old one's."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from .conftest import login, open_viewer, viewport_pixels, watch

pytestmark = pytest.mark.browser


def stroke(page: Any, dy: float = 0.0) -> None:
    box = page.locator("#vp-stack").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2 + dy
    page.mouse.move(cx - 40, cy)
    page.mouse.down()
    for dx in range(-40, 41, 8):
        page.mouse.move(cx + dx, cy)
    page.mouse.up()


def labelled_voxels(page: Any) -> int:
    return int(page.evaluate("() => window.nodusViewer.viewer.labels().reduce((a, v) => a + (v ? 1 : 0), 0)"))


def paint_and_save(page: Any, *, new_finding: bool = True, dy: float = 0.0) -> None:
    if new_finding:
        page.keyboard.press("+")
    page.keyboard.press("b")
    stroke(page, dy)
    page.wait_for_selector(".save-status[data-status=dirty]", timeout=10_000)
    page.keyboard.press("Control+s")
    page.wait_for_selector(".save-status[data-status=saved]", timeout=20_000)


def make_task(project: Any, user: Any, files: list[tuple[str, bytes]]) -> Any:
    from tests.factories import TaskFactory
    from webapp.imaging.models import Series
    from webapp.imaging.services import IncomingFile, ingest_files

    report = ingest_files(project=project, files=[IncomingFile(name=n, data=d) for n, d in files],
                          actor=None, source="cli")
    assert report.count("refused") == 0, report.refused
    series = Series.objects.get(series_instance_uid=report.results[0].series_instance_uid)
    return TaskFactory(series=series, project=project, assignee=user)


@pytest.fixture
def site(transactional_db: None, live_server: Any) -> dict[str, Any]:
    from tests.factories import MembershipFactory, ProjectFactory, UserFactory
    from webapp.accounts.models import Role
    from webapp.labeling.schema import LUNG_NODULE_SCHEMA

    project = ProjectFactory(slug="e2e-mod", label_schema=LUNG_NODULE_SCHEMA)
    user = UserFactory(username="anna")
    MembershipFactory(user=user, project=project, role=Role.ANNOTATOR)
    return {"project": project, "user": user, "url": live_server.url}


def brain_files() -> list[tuple[str, bytes]]:
    from training.phantoms import brain_mr, write_dicom_series

    ph = brain_mr(5, size=64, slices=16, n_lesions=1)
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_dicom_series(ph, Path(tmp), patient_id="E2EMR", patient_name="Brain^Test")
        return [(p.name, p.read_bytes()) for p in paths]


def single_frame(modality: str, sop_class: str, pixels: np.ndarray, photometric: str) -> list[tuple[str, bytes]]:
    """A 2D image as scanners write it for projection radiography / ultrasound: no
    ImagePositionPatient or ImageOrientationPatient."""
    import io

    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality = modality
    ds.PatientID, ds.PatientName = f"E2E{modality}", f"{modality}^Test"
    ds.StudyDate, ds.StudyTime, ds.AccessionNumber, ds.StudyID = "20260101", "120000", "", "1"
    ds.SeriesNumber, ds.InstanceNumber = 1, 1
    ds.Rows, ds.Columns = pixels.shape[:2]
    if photometric == "RGB":
        ds.SamplesPerPixel, ds.PlanarConfiguration = 3, 0
        ds.BitsAllocated = ds.BitsStored = 8
        ds.HighBit = 7
    else:
        ds.SamplesPerPixel = 1
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
        ds.PixelSpacing = ["0.2", "0.2"]
        ds.ImagerPixelSpacing = ["0.2", "0.2"]
    ds.PhotometricInterpretation = photometric
    ds.PixelRepresentation = 0
    ds.PixelData = pixels.tobytes()
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return [("IM0001.dcm", buf.getvalue())]


def dx_files() -> list[tuple[str, bytes]]:
    yy, xx = np.mgrid[0:128, 0:128]
    img = (xx * 16).astype(np.uint16)  # 0 … 2032
    img[(yy - 64) ** 2 + (xx - 64) ** 2 < 30**2] = 3500
    return single_frame("DX", "1.2.840.10008.5.1.4.1.1.1.1", img, "MONOCHROME2")


def us_files() -> list[tuple[str, bytes]]:
    yy, xx = np.mgrid[0:96, 0:128]
    rgb = np.zeros((96, 128, 3), np.uint8)
    rgb[..., 0] = xx * 2
    rgb[..., 1] = yy * 2
    rgb[(yy - 48) ** 2 + (xx - 64) ** 2 < 20**2] = (250, 250, 250)
    return single_frame("US", "1.2.840.10008.5.1.4.1.1.6.1", rgb, "RGB")


def head_volume(page: Any, base: str, task_id: int) -> tuple[int, bytes]:
    from webapp.labeling.models import Task

    head = Task.objects.get(pk=task_id).head_revision
    assert head is not None
    r = page.request.get(f"{base}/api/v1/revisions/{head.pk}/volume/")
    assert r.ok, r.status
    return head.pk, r.body()


def test_mr_volume_renders_windows_and_saves(browser: Any, site: dict[str, Any]) -> None:
    base = site["url"]
    task = make_task(site["project"], site["user"], brain_files())
    page = browser.new_page(viewport={"width": 1100, "height": 700})
    logs = watch(page)
    login(page, base, "anna")
    open_viewer(page, base, task.pk)
    before = viewport_pixels(page)
    assert before.std() > 5, "the MR viewport is uniform: nothing rendered"
    page.click("button[data-preset=brain]")
    page.wait_for_timeout(300)
    brain = viewport_pixels(page)
    assert "W 80 L 40" in page.locator("[data-field=wl]").inner_text()
    assert np.abs(before - brain).mean() > 2, "the brain preset did not change the pixels"
    paint_and_save(page)
    assert labelled_voxels(page) > 10
    _, body = head_volume(page, base, task.pk)
    assert body
    assert not [line for line in logs if line.startswith("pageerror")]
    page.close()


@pytest.mark.parametrize("kind", ["DX", "US"])
def test_single_frame_2d_renders_and_saves(browser: Any, site: dict[str, Any], kind: str) -> None:
    base = site["url"]
    task = make_task(site["project"], site["user"], dx_files() if kind == "DX" else us_files())
    assert task.series.modality == kind
    page = browser.new_page(viewport={"width": 1100, "height": 700})
    logs = watch(page)
    login(page, base, "anna")
    open_viewer(page, base, task.pk)
    px = viewport_pixels(page)
    assert px.std() > 5, f"the {kind} viewport is uniform: nothing rendered"
    paint_and_save(page)
    assert labelled_voxels(page) > 10
    _, body = head_volume(page, base, task.pk)
    assert body
    assert not [line for line in logs if line.startswith("pageerror")]
    page.close()


def test_history_restore_makes_a_new_head_equal_to_the_old(browser: Any, site: dict[str, Any]) -> None:
    from tests.factories import TaskFactory
    from webapp.labeling.models import LabelRevision

    from .conftest import ingest_phantom

    base = site["url"]
    series = ingest_phantom(project=site["project"])
    task = TaskFactory(series=series, project=site["project"], assignee=site["user"])
    page = browser.new_page(viewport={"width": 1100, "height": 700})
    logs = watch(page)
    login(page, base, "anna")
    open_viewer(page, base, task.pk)
    paint_and_save(page)
    first_count = labelled_voxels(page)
    first_id, first_body = head_volume(page, base, task.pk)
    paint_and_save(page, new_finding=False, dy=-30)
    second_id, second_body = head_volume(page, base, task.pk)
    assert second_id != first_id and labelled_voxels(page) > first_count
    assert second_body != first_body

    page.wait_for_selector(f"#history li[data-revision='{first_id}'] button")
    page.click(f"#history li[data-revision='{first_id}'] button")
    page.wait_for_function(f"() => !!document.querySelector('#history li em') && "
                           f"document.querySelector('#history li[data-revision=\"{first_id}\"] em') === null && "
                           f"document.querySelector('#history li[data-revision=\"{second_id}\"] button') !== null",
                           timeout=20_000)
    new_id, new_body = head_volume(page, base, task.pk)
    assert new_id not in (first_id, second_id)
    restored = LabelRevision.objects.get(pk=new_id)
    assert restored.parent_id == second_id
    assert restored.sha256 == LabelRevision.objects.get(pk=first_id).sha256
    assert new_body == first_body
    count = "window.nodusViewer.viewer.labels().reduce((a, v) => a + (v ? 1 : 0), 0)"
    page.wait_for_function(f"() => {count} === {first_count}", timeout=10_000)
    assert not [line for line in logs if line.startswith("pageerror")]
    page.close()
