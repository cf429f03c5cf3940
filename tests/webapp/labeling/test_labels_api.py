"""Saving and loading label revisions: round trip, server measurements, 409 on a stale parent,
workflow, restore, and every kind of bad input refused with nothing stored."""

from __future__ import annotations

import base64
import zlib
from typing import Any

import numpy as np
import pytest

from tests.conftest import client_as
from webapp.labeling.codec import decode
from webapp.labeling.models import Finding, LabelRevision, Task

from .conftest import GRID, body, nodule, save

pytestmark = pytest.mark.django_db


def test_first_save_creates_a_revision_with_server_measured_finding(world: Any, grid_task: Any) -> None:
    client = client_as(world.users["assignee"])
    r = save(client, grid_task, body(grid_task, nodule()))
    assert r.status_code == 201, r.content
    rev = LabelRevision.objects.get(pk=r.json()["revision"]["id"])
    assert r["ETag"] == f'"{rev.pk}"'
    assert rev.shape == list(GRID) and len(rev.sha256) == 64 and rev.parent_id is None
    f = Finding.objects.get(revision=rev)
    assert f.source == "human" and f.label_class == "nodule" and f.attributes == {"malignancy": 3}
    assert f.volume_mm3 == pytest.approx(2 * 4 * 4 * 0.7 * 0.7 * 2.5, rel=1e-3)
    assert f.diameter_mm and f.diameter_mm > 2.8
    assert f.centroid_voxel == [1.5, 6.5, 7.5]
    assert f.centroid_mm == pytest.approx([-10 + 7.5 * 0.7, -10 + 6.5 * 0.7, 1.5 * 2.5])
    task = Task.objects.get(pk=grid_task.pk)
    assert task.head_revision_id == rev.pk and task.state == "in_progress"


def test_client_measurements_are_never_trusted(world: Any, grid_task: Any) -> None:
    client = client_as(world.users["assignee"])
    findings = [{"segment": 1, "label_class": "nodule", "attributes": {}, "diameter_mm": 99, "volume_mm3": 1,
                 "source": "ai", "probability": 0.99, "detector": "second_stage"}]
    r = save(client, grid_task, body(grid_task, nodule(), findings=findings))
    assert r.status_code == 201
    f = r.json()["findings"][0]
    assert f["diameter_mm"] != 99 and f["volume_mm3"] != 1
    assert f["source"] == "human" and f["probability"] is None and f["detector"] == ""


def test_saved_volume_loads_back_identically(world: Any, grid_task: Any) -> None:
    client = client_as(world.users["assignee"])
    vol = nodule()
    rev_id = save(client, grid_task, body(grid_task, vol)).json()["revision"]["id"]
    r = client.get(f"/api/v1/revisions/{rev_id}/volume/")
    assert r.status_code == 200 and r["X-Label-Shape"] == "4,16,16" and r["X-Label-Encoding"] == "rle8+deflate"
    assert np.array_equal(decode(r.content, GRID), vol)
    labels = client.get(f"/api/v1/tasks/{grid_task.pk}/labels/")
    assert labels["ETag"] == f'"{rev_id}"' and labels.json()["head"]["id"] == rev_id
    assert labels.json()["shape"] == list(GRID) and labels.json()["findings"][0]["segment"] == 1


def test_stale_parent_gets_409_with_the_current_revision(world: Any, grid_task: Any) -> None:
    client = client_as(world.users["assignee"])
    first = save(client, grid_task, body(grid_task, nodule())).json()["revision"]["id"]
    second = save(client, grid_task, body(grid_task, nodule()), parent=first)
    assert second.status_code == 201
    stale = save(client, grid_task, body(grid_task, np.zeros(GRID, np.uint8), findings=[]), parent=first)
    assert stale.status_code == 409
    assert stale.json()["error"] == "conflict" and stale.json()["current"] == second.json()["revision"]["id"]
    assert LabelRevision.objects.filter(task=grid_task).count() == 2


def test_missing_if_match_is_428(world: Any, grid_task: Any) -> None:
    client = client_as(world.users["assignee"])
    r = client.post(f"/api/v1/tasks/{grid_task.pk}/labels/", body(grid_task, nodule()), format="json")
    assert r.status_code == 428 and "If-Match" in r.json()["detail"]


def test_history_and_restore_as_a_new_revision(world: Any, grid_task: Any) -> None:
    client = client_as(world.users["assignee"])
    first = save(client, grid_task, body(grid_task, nodule())).json()["revision"]["id"]
    second = save(client, grid_task, body(grid_task, np.zeros(GRID, np.uint8), findings=[]), parent=first)
    second_id = second.json()["revision"]["id"]
    history = client.get(f"/api/v1/revisions/?task={grid_task.pk}").json()["results"]
    assert [h["id"] for h in history] == [second_id, first] and history[0]["is_head"]
    stale = client.post(f"/api/v1/revisions/{first}/restore/", HTTP_IF_MATCH=f'"{first}"')
    assert stale.status_code == 409
    r = client.post(f"/api/v1/revisions/{first}/restore/", HTTP_IF_MATCH=f'"{second_id}"')
    assert r.status_code == 201
    new = LabelRevision.objects.get(pk=r.json()["id"])
    assert new.parent_id == second_id and new.sha256 == LabelRevision.objects.get(pk=first).sha256
    assert Finding.objects.filter(revision=new).count() == 1
    assert Task.objects.get(pk=grid_task.pk).head_revision_id == new.pk


def test_findings_api_lists_head_findings_with_filters(world: Any, grid_task: Any) -> None:
    client = client_as(world.users["reviewer"])
    first = save(client_as(world.users["assignee"]), grid_task, body(grid_task, nodule())).json()["revision"]["id"]
    save(client_as(world.users["assignee"]), grid_task, body(grid_task, nodule()), parent=first)
    uid = grid_task.series.series_instance_uid
    rows = client.get(f"/api/v1/findings/?series_instance_uid={uid}&source=human&status=accepted").json()
    assert rows["count"] == 1 and rows["results"][0]["series_instance_uid"] == uid
    assert client.get(f"/api/v1/findings/?task={grid_task.pk}&source=ai").json()["count"] == 0
    assert client.get(f"/api/v1/findings/?revision={first}").json()["count"] == 1
    assert client.get("/api/v1/findings/?bogus=1").status_code == 400


def test_edit_of_an_ai_finding_marks_it_edited(world: Any, grid_task: Any) -> None:
    from tests.factories import make_revision

    rev = make_revision(task=grid_task, shape=GRID)
    Finding.objects.filter(revision=rev).update(source="ai", status="suggested", probability=0.9)
    r = save(client_as(world.users["assignee"]), grid_task, body(grid_task, nodule()), parent=rev.pk)
    assert r.status_code == 201
    f = r.json()["findings"][0]
    assert f["source"] == "ai" and f["status"] == "edited" and f["probability"] == 0.9


def test_findings_api_shows_which_detector_proposed_an_ai_finding_and_nobody_changes_it(
    world: Any, grid_task: Any
) -> None:
    from tests.factories import make_revision

    rev = make_revision(task=grid_task, shape=GRID)
    Finding.objects.filter(revision=rev).update(source="ai", status="suggested", probability=0.9,
                                                detector="second_stage")
    f = Finding.objects.get(revision=rev)
    reviewer = client_as(world.users["reviewer"])
    assert reviewer.get(f"/api/v1/findings/{f.pk}/").json()["detector"] == "second_stage"
    rows = reviewer.get(f"/api/v1/findings/?task={grid_task.pk}").json()["results"]
    assert [r["detector"] for r in rows] == ["second_stage"]
    by = {d: reviewer.get(f"/api/v1/findings/?task={grid_task.pk}&detector={d}").json() for d in
          ("second_stage", "network")}
    assert [r["id"] for r in by["second_stage"]["results"]] == [f.pk] and by["network"]["count"] == 0
    bad = reviewer.get("/api/v1/findings/?detector=blob")
    assert bad.status_code == 400 and "detector" in bad.json()["fields"]
    assert client_as(world.users["assignee"]).get(f"/api/v1/tasks/{grid_task.pk}/labels/").json()["findings"][0][
        "detector"] == "second_stage"
    # read-only: no client writes it, whatever its role
    for who in ("assignee", "project_admin", "site_admin"):
        for method in ("patch", "put"):
            r = getattr(client_as(world.users[who]), method)(f"/api/v1/findings/{f.pk}/", {"detector": "network"},
                                                             format="json")
            assert r.status_code == 405, (who, method, r.status_code)
    f.refresh_from_db()
    assert f.detector == "second_stage"
    # it stays with the finding through the annotator's edit (a detector in the payload is ignored) ...
    edited = save(client_as(world.users["assignee"]), grid_task, body(grid_task, nodule(), findings=[
        {"segment": 1, "label_class": "nodule", "attributes": {}, "detector": "network"}]), parent=rev.pk)
    assert edited.status_code == 201
    assert edited.json()["findings"][0]["status"] == "edited"
    assert edited.json()["findings"][0]["detector"] == "second_stage"
    # ... and through a restore of the AI revision
    head = edited.json()["revision"]["id"]
    restored = client_as(world.users["assignee"]).post(f"/api/v1/revisions/{rev.pk}/restore/",
                                                       HTTP_IF_MATCH=f'"{head}"')
    assert restored.status_code == 201
    assert Finding.objects.get(revision_id=restored.json()["id"]).detector == "second_stage"


def test_submit_moves_the_task_and_freezes_it_for_the_annotator(world: Any, grid_task: Any) -> None:
    client = client_as(world.users["assignee"])
    rev = save(client, grid_task, body(grid_task, nodule())).json()["revision"]["id"]
    r = client.post(f"/api/v1/tasks/{grid_task.pk}/submit/")
    assert r.status_code == 200 and r.json()["state"] == "submitted" and r.json()["submitted_at"]
    again = save(client, grid_task, body(grid_task, nodule()), parent=rev)
    assert again.status_code == 409 and again.json()["state"] == "submitted"
    assert client.post(f"/api/v1/tasks/{grid_task.pk}/submit/").status_code == 409


# --- bad input: 4xx with a reason, nothing stored, the previous revision intact -----------------


@pytest.fixture
def saved(world: Any, grid_task: Any) -> tuple[Any, int]:
    client = client_as(world.users["assignee"])
    rev = save(client, grid_task, body(grid_task, nodule())).json()["revision"]["id"]
    return client, rev


def assert_refused(r: Any, task: Any, head: int, status: int, reason: str) -> None:
    assert r.status_code == status, r.content
    assert reason in r.json()["detail"], r.json()
    assert LabelRevision.objects.filter(task=task).count() == 1
    assert Task.objects.get(pk=task.pk).head_revision_id == head
    assert Finding.objects.filter(task=task).count() == 1


def test_wrong_shape_is_refused(grid_task: Any, saved: tuple[Any, int]) -> None:
    client, head = saved
    r = save(client, grid_task, body(grid_task, nodule(grid=(4, 16, 8))), parent=head)
    assert_refused(r, grid_task, head, 400, "does not match the series grid")
    assert r.json()["expected"] == list(GRID)


def test_wrong_dtype_is_refused(grid_task: Any, saved: tuple[Any, int]) -> None:
    client, head = saved
    r = save(client, grid_task, body(grid_task, nodule(), dtype="uint16"), parent=head)
    assert_refused(r, grid_task, head, 400, "uint8")


def test_corrupted_compression_is_refused(grid_task: Any, saved: tuple[Any, int]) -> None:
    client, head = saved
    good = base64.b64decode(body(grid_task, nodule())["data"])
    for data in (good[: len(good) // 2], b"\x78\x9c" + b"garbage" * 5, zlib.compress(b"\x01\x00\x00")):
        r = save(client, grid_task, body(grid_task, nodule(), data=base64.b64encode(data).decode()), parent=head)
        assert_refused(r, grid_task, head, 400, "")
    r = save(client, grid_task, body(grid_task, nodule(), data="%%%not base64"), parent=head)
    assert_refused(r, grid_task, head, 400, "base64")


def test_label_values_without_a_finding_are_refused(grid_task: Any, saved: tuple[Any, int]) -> None:
    client, head = saved
    vol = nodule()
    vol[0, 0, 0] = 7
    r = save(client, grid_task, body(grid_task, vol), parent=head)
    assert_refused(r, grid_task, head, 400, "label values [7]")


def test_class_outside_the_schema_is_refused(grid_task: Any, saved: tuple[Any, int]) -> None:
    client, head = saved
    findings = [{"segment": 1, "label_class": "unicorn", "attributes": {}}]
    r = save(client, grid_task, body(grid_task, nodule(), findings=findings), parent=head)
    assert_refused(r, grid_task, head, 400, "not in the project's schema")


def test_mask_for_another_series_is_refused(world: Any, grid_task: Any, saved: tuple[Any, int]) -> None:
    client, head = saved
    other = body(grid_task, nodule(), series_instance_uid=world["other_series"].series_instance_uid)
    r = save(client, grid_task, other, parent=head)
    assert_refused(r, grid_task, head, 400, "another series")


def test_unknown_finding_attribute_is_refused(grid_task: Any, saved: tuple[Any, int]) -> None:
    client, head = saved
    for attrs, reason in (({"shininess": 2}, "not in the project's schema"), ({"malignancy": 9}, "within 1..5")):
        findings = [{"segment": 1, "label_class": "nodule", "attributes": attrs}]
        r = save(client, grid_task, body(grid_task, nodule(), findings=findings), parent=head)
        assert_refused(r, grid_task, head, 400, reason)


@pytest.mark.parametrize("role,status", [("annotator", 404), ("outsider", 404)])
def test_save_to_a_task_not_assigned_is_refused(
    world: Any, grid_task: Any, saved: tuple[Any, int], role: str, status: int
) -> None:
    _, head = saved
    r = save(client_as(world.users[role]), grid_task, body(grid_task, np.zeros(GRID, np.uint8), findings=[]),
             parent=head)
    assert_refused(r, grid_task, head, status, "not found")


def test_reassigned_task_cannot_be_saved_by_the_former_assignee(world: Any, grid_task: Any,
                                                                saved: tuple[Any, int]) -> None:
    client, head = saved
    Task.objects.filter(pk=grid_task.pk).update(assignee=world.users["annotator"])
    r = save(client, grid_task, body(grid_task, nodule()), parent=head)
    assert_refused(r, grid_task, head, 404, "not found")


def test_unchanged_segments_keep_their_measurements_without_re_measuring(
    world: Any, grid_task: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from webapp.labeling import services

    client = client_as(world.users["assignee"])
    first = save(client, grid_task, body(grid_task, nodule()))
    assert first.status_code == 201, first.content
    measured: list[tuple[int, ...]] = []
    real = services.measure_segment

    def spy(mask: Any, spacing: Any) -> Any:
        measured.append(mask.shape)
        return real(mask, spacing)

    monkeypatch.setattr(services, "measure_segment", spy)
    vol = nodule()
    vol[0, 0, 0:2] = 2
    findings = [{"segment": 1, "label_class": "nodule", "attributes": {"malignancy": 3}},
                {"segment": 2, "label_class": "nodule", "attributes": {}}]
    second = save(client, grid_task, body(grid_task, vol, findings), parent=first.json()["revision"]["id"])
    assert second.status_code == 201, second.content
    assert measured == [(1, 1, 2)]  # only the new segment's box was measured
    by_segment = {f["segment"]: f for f in second.json()["findings"]}
    one = {f["segment"]: f for f in first.json()["findings"]}[1]
    assert {k: by_segment[1][k] for k in ("diameter_mm", "volume_mm3", "centroid_voxel")} == \
        {k: one[k] for k in ("diameter_mm", "volume_mm3", "centroid_voxel")}
    assert by_segment[2]["volume_mm3"] and by_segment[2]["volume_mm3"] > 0
