"""Freehand (lasso) scissors in the browser: a concave lasso on the axial view fills the active
finding inside it and nowhere else; undo/redo, Shift erases, save and reload keep the mask."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import login, open_viewer, watch

pytestmark = pytest.mark.browser

# an L shape around the viewport's centre (screen pixels): the top-right quadrant is left out
LABELLED = "() => { const o = []; window.nodusViewer.viewer.labels().forEach((v, n) => v && o.push(n)); return o; }"
LASSO = [(-40, -40), (0, -40), (0, 0), (40, 0), (40, 40), (-40, 40)]


def drag_lasso(
    page: Any, offsets: list[tuple[int, int]], outline_shown: list[bool] | None = None
) -> list[tuple[float, float]]:
    box = page.locator("#vp-stack").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    pts = [(cx + dx, cy + dy) for dx, dy in offsets]
    page.mouse.move(*pts[0])
    page.mouse.down()
    for x, y in pts[1:] + pts[:1]:
        page.mouse.move(x, y, steps=6)
    if outline_shown is not None:  # the outline is drawn while dragging
        page.wait_for_timeout(200)
        outline_shown.append(page.locator("#vp-stack svg polyline").count() > 0)
    page.mouse.up()
    return pts


def to_index(page: Any, pts: list[tuple[float, float]]) -> list[list[float]]:
    """Client points → continuous (i, j, k) labelmap indices, through the viewport's camera."""
    return page.evaluate(
        """(pts) => {
            const v = window.nodusViewer.viewer;
            const vp = v.engine.getViewport("vp-stack");
            const r = vp.element.getBoundingClientRect();
            const toIndex = (w) => Array.from(v.labelmap.imageData.worldToIndex(w));
            return pts.map(([x, y]) => toIndex(vp.canvasToWorld([x - r.left, y - r.top])));
        }""",
        [list(p) for p in pts],
    )


def labelled(page: Any) -> list[int]:
    """Flat indices (i fastest, then j, then k) of the labelled voxels."""
    return page.evaluate(LABELLED)


def inside(x: float, y: float, poly: list[tuple[float, float]]) -> bool:
    hit = False
    for (ax, ay), (bx, by) in zip(poly, poly[1:] + poly[:1], strict=True):
        if (ay <= y) != (by <= y) and x < ax + (y - ay) * (bx - ax) / (by - ay):
            hit = not hit
    return hit


def test_lasso_fills_inside_only_undo_erase_save_reload(browser: Any, viewer_task: dict[str, Any]) -> None:
    base, task = viewer_task["url"], viewer_task["task"]
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    logs = watch(page)
    login(page, base, "anna")
    open_viewer(page, base, task.pk)
    cols, rows, slices = page.evaluate("() => Array.from(window.nodusViewer.viewer.labelmap.dimensions)")

    page.keyboard.press("+")
    page.keyboard.press("d")
    assert page.locator("button[data-tool=LassoScissors]").get_attribute("class") == "active"
    shown: list[bool] = []
    pts = drag_lasso(page, LASSO, shown)
    assert shown == [True], "no lasso outline while dragging"
    page.wait_for_selector(".save-status[data-status=dirty]", timeout=10_000)

    ijk = to_index(page, pts)
    k = round(ijk[0][2])
    assert all(abs(p[2] - k) < 0.01 for p in ijk), ijk  # an axial slice
    poly = [(p[0], p[1]) for p in ijk]
    assert all(0 <= x < cols and 0 <= y < rows for x, y in poly), poly  # the lasso lies on the image
    expected = {i + j * cols + k * cols * rows for j in range(rows) for i in range(cols) if inside(i, j, poly)}
    got = set(labelled(page))
    assert len(expected) > 30, expected
    assert all(n // (cols * rows) == k for n in got), "voxels painted off the lasso's slice"
    # exact up to voxel centres lying on the outline
    assert len(got & expected) >= 0.95 * len(expected), (len(got), len(expected))
    assert len(got - expected) <= 0.05 * len(expected), sorted(got - expected)
    # the left-out quadrant of the L stays empty
    qi, qj = ijk[0][0] + 0.75 * (ijk[3][0] - ijk[0][0]), ijk[0][1] + 0.25 * (ijk[4][1] - ijk[0][1])
    notch = round(qi) + round(qj) * cols + k * cols * rows
    assert notch not in got

    # undo / redo go through the history like the brush's strokes
    page.keyboard.press("Control+z")
    page.wait_for_function("() => window.nodusViewer.viewer.labels().every((v) => v === 0)", timeout=5_000)
    page.keyboard.press("Control+y")
    page.wait_for_function(
        f"() => window.nodusViewer.viewer.labels().reduce((a, v) => a + (v ? 1 : 0), 0) === {len(got)}", timeout=5_000
    )

    # Shift + lasso erases a small square inside the L
    page.keyboard.down("Shift")
    cut = drag_lasso(page, [(-35, 5), (-5, 5), (-5, 35), (-35, 35)])
    page.keyboard.up("Shift")
    page.wait_for_function(
        f"() => window.nodusViewer.viewer.labels().reduce((a, v) => a + (v ? 1 : 0), 0) < {len(got)}", timeout=5_000
    )
    kept = set(labelled(page))
    cut_poly = [(p[0], p[1]) for p in to_index(page, cut)]
    in_cut = {i + j * cols + k * cols * rows for j in range(rows) for i in range(cols) if inside(i, j, cut_poly)}
    assert kept < got and len(got - kept) >= 0.9 * len(in_cut & got) > 0
    assert len((got - kept) - in_cut) <= 2, sorted((got - kept) - in_cut)

    page.keyboard.press("Control+s")
    page.wait_for_selector(".save-status[data-status=saved]", timeout=20_000)
    from webapp.labeling.models import Finding, Task

    head = Task.objects.get(pk=task.pk).head_revision
    assert head is not None
    finding = Finding.objects.get(revision=head)
    assert finding.segment == 1 and finding.volume_mm3 and finding.volume_mm3 > 0

    open_viewer(page, base, task.pk)
    assert set(labelled(page)) == kept
    errors = [line for line in logs if line.startswith("pageerror")]
    assert not errors, errors
    page.close()


@pytest.mark.parametrize("view,axis", [("coronal", 1), ("sagittal", 0)])
def test_lasso_on_mpr_views_fills_one_slice_across(
    browser: Any, viewer_task: dict[str, Any], view: str, axis: int
) -> None:
    base, task = viewer_task["url"], viewer_task["task"]
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    logs = watch(page)
    login(page, base, "anna")
    open_viewer(page, base, task.pk)
    dims = page.evaluate("() => Array.from(window.nodusViewer.viewer.labelmap.dimensions)")
    page.keyboard.press("m")
    page.wait_for_selector("#viewports[data-layout=mpr]")
    page.wait_for_timeout(500)
    page.keyboard.press("+")
    page.keyboard.press("d")
    box = page.locator(f"#vp-{view}").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx - 30, cy - 15)
    page.mouse.down()
    for x, y in [(cx + 30, cy - 15), (cx + 30, cy + 15), (cx - 30, cy + 15), (cx - 30, cy - 15)]:
        page.mouse.move(x, y, steps=6)
    page.mouse.up()
    page.wait_for_selector(".save-status[data-status=dirty]", timeout=10_000)
    got = labelled(page)
    cols, rows = dims[0], dims[1]
    ijk = [(n % cols, (n // cols) % rows, n // (cols * rows)) for n in got]
    assert len(got) > 10
    assert len({p[axis] for p in ijk}) == 1, f"the {view} lasso painted more than one slice"
    others = [a for a in (0, 1, 2) if a != axis]
    assert all(len({p[a] for p in ijk}) > 2 for a in others), "the lasso's fill is not spread in its plane"
    errors = [line for line in logs if line.startswith("pageerror")]
    assert not errors, errors
    page.close()
