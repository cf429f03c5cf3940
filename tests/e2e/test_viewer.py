"""The annotator's day in the browser: open a task, see the image, window it, paint, save,
reload and find the mask again; a second tab gets the conflict UI; shortcuts work."""

from __future__ import annotations

import shutil
from typing import Any

import numpy as np
import pytest

from tests.conftest import ROOT

from .conftest import artifact, login, open_viewer, viewport_pixels, wait_loaded, watch

pytestmark = pytest.mark.browser


def paint_stroke(page: Any) -> None:
    box = page.locator("#vp-stack").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx - 40, cy)
    page.mouse.down()
    for dx in range(-40, 41, 8):
        page.mouse.move(cx + dx, cy + dx / 4)
    page.mouse.up()


def labelled_voxels(page: Any) -> int:
    return int(page.evaluate("() => window.nodusViewer.viewer.labels().reduce((a, v) => a + (v ? 1 : 0), 0)"))


def test_open_window_paint_save_reload(browser: Any, viewer_task: dict[str, Any]) -> None:
    base, task = viewer_task["url"], viewer_task["task"]
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    logs = watch(page)
    login(page, base, "anna")
    page.goto(f"{base}/tasks/")
    page.click(f"tr[data-task='{task.pk}'] a")
    wait_loaded(page)
    # overlay text is escaped (patient name has markup)
    assert page.locator("[data-field=patient-name]").inner_text() == "Test <b>Patient</b>"

    # the image renders, and a W/L preset changes the pixels
    page.keyboard.press("1")
    page.wait_for_timeout(300)
    lung = viewport_pixels(page)
    assert lung.std() > 5, "the viewport is uniform: nothing rendered"
    page.click("button[data-preset=bone]")
    page.wait_for_timeout(300)
    bone = viewport_pixels(page)
    assert np.abs(lung - bone).mean() > 2, "the bone preset did not change the pixels"
    assert "W 2500 L 480" in page.locator("[data-field=wl]").inner_text()

    # paint a stroke with the brush into a new finding and save
    page.keyboard.press("1")
    page.keyboard.press("+")
    page.keyboard.press("b")
    assert page.locator("button[data-tool=Brush]").get_attribute("class") == "active"
    paint_stroke(page)
    page.wait_for_selector(".save-status[data-status=dirty]", timeout=10_000)
    painted = labelled_voxels(page)
    assert painted > 20
    page.keyboard.press("Control+s")
    page.wait_for_selector(".save-status[data-status=saved]", timeout=20_000)
    measure = page.locator(".finding[data-segment='1'] [data-field=measure]").inner_text()
    assert "mm" in measure, measure
    page.wait_for_timeout(300)
    page.screenshot(path=str(artifact("viewer.png")))

    from webapp.labeling.models import Finding, Task

    head = Task.objects.get(pk=task.pk).head_revision
    assert head is not None and Task.objects.get(pk=task.pk).state == "in_progress"
    finding = Finding.objects.get(revision=head)
    assert finding.volume_mm3 and finding.volume_mm3 > 0

    # reload: the mask and the finding are there
    open_viewer(page, base, task.pk)
    assert labelled_voxels(page) == painted
    assert page.locator(".finding[data-segment='1']").count() == 1
    errors = [line for line in logs if line.startswith("pageerror")]
    assert not errors, errors
    page.close()


def test_second_tab_gets_the_conflict_ui(browser: Any, viewer_task: dict[str, Any]) -> None:
    base, task = viewer_task["url"], viewer_task["task"]
    context = browser.new_context(viewport={"width": 1100, "height": 700})
    one = context.new_page()
    login(one, base, "anna")
    two = context.new_page()
    open_viewer(one, base, task.pk)
    open_viewer(two, base, task.pk)
    for page in (one, two):
        page.keyboard.press("+")
        page.keyboard.press("b")
        paint_stroke(page)
    one.keyboard.press("Control+s")
    one.wait_for_selector(".save-status[data-status=saved]", timeout=20_000)
    two.keyboard.press("Control+s")
    two.wait_for_selector("#conflict:not([hidden])", timeout=20_000)
    assert "changed" in two.locator("#conflict").inner_text()
    assert two.locator("#conflict-reload").is_visible()
    context.close()


def test_keyboard_shortcuts(browser: Any, viewer_task: dict[str, Any]) -> None:
    base, task = viewer_task["url"], viewer_task["task"]
    page = browser.new_page(viewport={"width": 1100, "height": 700})
    login(page, base, "anna")
    open_viewer(page, base, task.pk)
    page.keyboard.press("?")
    assert page.locator("#help").is_visible() and "Window/level" in page.locator("#help").inner_text()
    page.keyboard.press("Escape")
    assert not page.locator("#help").is_visible()
    before = page.locator("[data-field=slice]").inner_text()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.wait_for_timeout(700)
    assert page.locator("[data-field=slice]").inner_text() != before
    page.keyboard.press("2")
    page.wait_for_timeout(600)
    assert "W 400 L 40" in page.locator("[data-field=wl]").inner_text()
    page.keyboard.press("x")
    assert page.locator("button[data-tool=Eraser]").get_attribute("class") == "active"
    page.keyboard.press("m")
    page.wait_for_selector("#viewports[data-layout=mpr]")
    page.close()


def test_docs_screenshot_is_kept() -> None:
    shot = artifact("viewer.png")
    docs = ROOT / "docs" / "viewer.png"
    if shot.exists() and not docs.exists():
        docs.parent.mkdir(exist_ok=True)
        shutil.copy(shot, docs)
    assert docs.exists()
