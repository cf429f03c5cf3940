"""AI triage in the viewer: suggestions of the AI revision shown as their own overlay and panel,
decided by keyboard (N to select, A accept, R reject); the accepted one joins the annotator's label."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from .conftest import login, open_viewer

pytestmark = pytest.mark.browser


def sphere(shape: tuple[int, int, int], centre: tuple[int, int, int], r: float) -> Any:
    z, y, x = np.ogrid[: shape[0], : shape[1], : shape[2]]
    return (z - centre[0]) ** 2 + (y - centre[1]) ** 2 + (x - centre[2]) ** 2 <= r * r


def ai_result(*, task: Any, suggestions: list[tuple[int, tuple[int, int, int], float, str]]) -> Any:
    """An AI result revision stored the way the worker stores it (webapp.ml.services.complete_job)."""
    from webapp.labeling.selectors import series_grid
    from webapp.ml.models import InferenceJob, ModelVersion
    from webapp.ml.services import complete_job

    mv = ModelVersion.objects.create(project=task.project, name="e2e-net", version="1", state="active",
                                     bundle_key="none", sha256="0" * 64)
    job = InferenceJob.objects.create(project=task.project, series=task.series, model_version=mv, task=task,
                                      state=InferenceJob.State.RUNNING)
    grid = series_grid(series=task.series)
    label = np.zeros(grid, dtype=np.uint8)
    candidates = []
    for segment, centre, probability, detector in suggestions:
        label[sphere(grid, centre, 3)] = segment
        candidates.append({"label": segment, "centroid_voxel": list(centre), "centroid_mm": list(centre),
                           "diameter_mm": 6.0, "volume_mm3": 113.0, "probability_max": probability,
                           "detector": detector})
    rev = complete_job(job_id=job.pk, label=label, candidates=candidates)
    assert rev is not None
    return rev


def test_accept_and_reject_ai_suggestions_by_keyboard(browser: Any, viewer_task: dict[str, Any]) -> None:
    from django.test import Client

    from webapp.labeling import services
    from webapp.labeling.models import Task
    from webapp.labeling.selectors import series_grid

    base, task, user = viewer_task["url"], viewer_task["task"], viewer_task["user"]
    grid = series_grid(series=task.series)
    # the annotator saved once already (an empty label), so the AI result arrives beside the head
    human = services.save_label_revision(
        task=task, author=user, parent_id=None,
        payload=services.LabelPayload(volume=np.zeros(grid, dtype=np.uint8), findings=[]))
    ai_rev = ai_result(task=task, suggestions=[(1, (5, 24, 24), 0.91, "network"),
                                               (2, (14, 40, 40), 0.62, "second_stage")])
    assert Task.objects.get(pk=task.pk).head_revision_id == human.pk
    first, second = (ai_rev.findings.get(segment=s).pk for s in (1, 2))

    page = browser.new_page(viewport={"width": 1280, "height": 800})
    reqs: list[str] = []
    page.on("request", lambda r: reqs.append(f"{r.method} {r.url[-40:]} {r.headers.get('if-match')}")
            if r.method == "POST" else None)
    login(page, base, "anna")
    open_viewer(page, base, task.pk)
    page.wait_for_selector("#viewer-app[data-triage=ready]", timeout=20_000)
    rows = page.locator(".suggestion")
    assert rows.count() == 2
    assert rows.first.get_attribute("data-finding") == str(first)  # most probable first
    assert "0.91" in rows.first.inner_text() and "6.0 mm" in rows.first.inner_text()
    # the second stage's suggestion is marked, the network's is not
    assert rows.first.locator(".detector-badge").count() == 0
    badge = page.locator(f".suggestion[data-finding='{second}'] .detector-badge")
    assert badge.inner_text() == "blob stage" and "second-stage blob classifier" in badge.get_attribute("title")
    assert page.evaluate("() => window.nodusViewer.viewer.aiLabels().reduce((a, v) => a + (v ? 1 : 0), 0)") > 100

    before = page.locator("[data-field=slice]").inner_text()
    page.keyboard.press("n")  # select the first suggestion, jump to its slice
    page.wait_for_selector(f".suggestion.selected[data-finding='{first}']")
    page.wait_for_function("(b) => document.querySelector('[data-field=slice]').textContent !== b", arg=before,
                           timeout=5_000)
    page.keyboard.press("?")
    assert "Accept the selected AI suggestion" in page.locator("#help").inner_text()
    page.keyboard.press("Escape")

    page.keyboard.press("a")
    page.wait_for_selector(f".suggestion[data-finding='{first}'][data-status=accepted]", timeout=20_000)
    page.wait_for_selector(f".suggestion.selected[data-finding='{second}']", timeout=10_000)  # advanced
    page.keyboard.press("r")
    try:
        page.wait_for_selector(f".suggestion[data-finding='{second}'][data-status=rejected]", timeout=20_000)
    except Exception as exc:
        from webapp.labeling.models import LabelRevision
        revs = list(LabelRevision.objects.filter(task=task).order_by("id").values_list("id", "parent_id", "message"))
        raise AssertionError(f"{page.locator('#save-status').inner_text()} {revs} "
                             f"{page.evaluate('() => window.nodusViewer.store.get().headRevision')} {reqs}") from exc

    # through the API: statuses changed, the accepted one joined the annotator's label
    client = Client()
    client.force_login(user)
    rows_ = client.get(f"/api/v1/findings/?revision={ai_rev.pk}&source=ai").json()["results"]
    ai = {f["id"]: f["status"] for f in rows_}
    assert ai == {first: "accepted", second: "rejected"}
    labels = client.get(f"/api/v1/tasks/{task.pk}/labels/").json()
    assert labels["head"]["id"] not in (human.pk, ai_rev.pk) and labels["head"]["parent"] == human.pk
    joined = [f for f in labels["findings"] if f["source"] == "ai"]
    assert [f["status"] for f in joined] == ["accepted"] and joined[0]["diameter_mm"] == 6.0
    assert joined[0]["detector"] == "network"
    # the viewer follows the new head (the next save's If-Match) and shows the accepted voxels as label
    assert page.evaluate("() => window.nodusViewer.store.get().headRevision") == labels["head"]["id"]
    painted = page.evaluate("() => window.nodusViewer.viewer.labels().reduce((a, v) => a + (v ? 1 : 0), 0)")
    assert painted == int(sphere(grid, (5, 24, 24), 3).sum())
    page.close()


def test_task_list_shows_job_progress(browser: Any, viewer_task: dict[str, Any]) -> None:
    """/tasks/ reads the jobs over REST on load (and after every reconnect) and shows a progress bar."""
    from webapp.ml.models import InferenceJob, ModelVersion

    base, task = viewer_task["url"], viewer_task["task"]
    mv = ModelVersion.objects.create(project=task.project, name="e2e-net", version="2", bundle_key="none",
                                     sha256="0" * 64)
    InferenceJob.objects.create(project=task.project, series=task.series, model_version=mv, task=task,
                                state=InferenceJob.State.RUNNING, progress=0.4, stage="inference")
    page = browser.new_page()
    login(page, base, "anna")
    page.goto(f"{base}/tasks/")
    cell = page.locator(f"tr[data-task='{task.pk}'] [data-field=ai]")
    page.wait_for_selector(f"tr[data-task='{task.pk}'] [data-field=ai][data-state=running] progress")
    assert "inference 40%" in cell.inner_text()
    page.close()


def test_viewer_shows_the_running_job(browser: Any, viewer_task: dict[str, Any]) -> None:
    """The viewer reads the series' newest job over REST (and after every websocket connect)."""
    from webapp.ml.models import InferenceJob, ModelVersion

    base, task = viewer_task["url"], viewer_task["task"]
    mv = ModelVersion.objects.create(project=task.project, name="e2e-net", version="3", bundle_key="none",
                                     sha256="0" * 64)
    InferenceJob.objects.create(project=task.project, series=task.series, model_version=mv, task=task,
                                state=InferenceJob.State.RUNNING, progress=0.25, stage="sliding window")
    page = browser.new_page(viewport={"width": 1100, "height": 700})
    login(page, base, "anna")
    open_viewer(page, base, task.pk)
    page.wait_for_selector("#job-status[data-state=running]", timeout=10_000)
    assert "AI running · sliding window · 25%" in page.locator("#job-status").inner_text()
    assert page.locator("#ai-panel").is_visible()
    page.close()
