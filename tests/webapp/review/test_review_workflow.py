"""Triage and review rules: per-finding decisions, comments pinned to a slice, accept / return,
nobody reviews their own task, only accepted tasks become training labels, everything audited."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tests.conftest import client_as

pytestmark = pytest.mark.django_db


def _ai_task(world: Any, *, assignee: Any, state: str) -> Any:
    from tests.factories import TaskFactory
    from tests.webapp.ml.helpers import save_truth_revision
    from webapp.labeling.models import Finding
    from webapp.ml.models import ModelVersion

    mv = ModelVersion.objects.create(project=world["project"], name="m", version=f"v{assignee.pk}",
                                     bundle_key="b.zip", sha256="0" * 64)
    task = TaskFactory(series=world["series"], assignee=assignee, state=state)
    label = np.zeros((2, 4, 4), np.uint8)
    label[0, :2, :2], label[1, 2:, 2:] = 1, 2
    rev = save_truth_revision(task=task, label=label, status="suggested")
    rev.findings.update(source=Finding.Source.AI, model_version=mv)
    return task, list(rev.findings.order_by("segment"))


def test_annotator_triages_ai_suggestions_on_own_open_task(world: Any) -> None:
    from webapp.audit.models import AuditEvent

    task, (a, b) = _ai_task(world, assignee=world.users["assignee"], state="in_progress")
    me = client_as(world.users["assignee"])
    assert me.post(f"/api/v1/findings/{a.pk}/decision/", {"decision": "accept"}, format="json").json()["status"] \
        == "accepted"
    assert me.post(f"/api/v1/findings/{b.pk}/decision/", {"decision": "reject"}, format="json").json()["status"] \
        == "rejected"
    assert client_as(world.users["annotator"]).post(f"/api/v1/findings/{a.pk}/decision/", {"decision": "reject"},
                                                    format="json").status_code == 404
    assert AuditEvent.objects.filter(action__in=["finding.accept", "finding.reject"]).count() == 2


def test_an_accepted_second_stage_suggestion_keeps_its_detector_and_the_reviewer_sees_it(world: Any) -> None:
    from tests.webapp.ml.helpers import save_truth_revision
    from webapp.labeling.models import Finding, LabelRevision

    task, (a, b) = _ai_task(world, assignee=world.users["assignee"], state="in_progress")
    LabelRevision.objects.filter(pk=a.revision_id).update(model_version_id=a.model_version_id)  # the AI result
    Finding.objects.filter(pk=a.pk).update(detector="second_stage")
    Finding.objects.filter(pk=b.pk).update(detector="network")
    save_truth_revision(task=task, label=np.zeros((2, 4, 4), np.uint8))  # the annotator's own (empty) label
    me = client_as(world.users["assignee"])
    r = me.post(f"/api/v1/findings/{a.pk}/decision/", {"decision": "accept"}, format="json")
    assert r.status_code == 200 and r.json()["head_revision"] != a.revision_id  # it joined the annotator's label
    joined = Finding.objects.get(revision_id=r.json()["head_revision"])
    assert joined.source == "ai" and joined.status == "accepted" and joined.detector == "second_stage"

    page = client_as(world.users["reviewer"]).get(f"/review/{task.pk}/").content.decode()
    assert f'data-finding="{b.pk}"' in page  # both suggestions are listed ...
    assert page.count('class="detector-badge"') == 1  # ... the second-stage one marked, not the network's
    assert "Proposed by the second-stage blob classifier, not the segmentation network" in page


def test_reviewer_decides_comments_on_a_slice_and_returns_then_accepts(world: Any) -> None:
    from webapp.labeling.models import Task
    from webapp.ml.services import accepted_dataset

    task, (a, b) = _ai_task(world, assignee=world.users["assignee"], state="submitted")
    reviewer = client_as(world.users["reviewer"])
    assert reviewer.get("/review/").status_code == 200
    assert reviewer.post("/api/v1/reviews/", {"task": task.pk, "decision": "reject_finding", "finding": b.pk},
                         format="json").status_code == 201
    r = reviewer.post("/api/v1/reviews/", {"task": task.pk, "decision": "comment", "slice_index": 1,
                                           "comment": "margin too wide here"}, format="json")
    assert r.status_code == 201 and r.json()["slice_index"] == 1
    assert reviewer.post("/api/v1/reviews/", {"task": task.pk, "decision": "return_task"},
                         format="json").status_code == 400  # returning needs a comment
    assert reviewer.post("/api/v1/reviews/", {"task": task.pk, "decision": "return_task", "comment": "fix slice 1"},
                         format="json").status_code == 201
    assert Task.objects.get(pk=task.pk).state == "returned"
    seen = client_as(world.users["assignee"]).get(f"/api/v1/reviews/?task={task.pk}").json()["results"]
    assert [c["comment"] for c in seen if c["comment"]] == ["margin too wide here", "fix slice 1"]
    assert accepted_dataset(project=world["project"]) == []
    Task.objects.filter(pk=task.pk).update(state="submitted")
    assert reviewer.post("/api/v1/reviews/", {"task": task.pk, "decision": "accept_task"},
                         format="json").status_code == 201
    assert [d["task"] for d in accepted_dataset(project=world["project"])] == [task.pk]


def test_nobody_reviews_their_own_task(world: Any) -> None:
    task, _ = _ai_task(world, assignee=world.users["project_admin"], state="submitted")
    r = client_as(world.users["project_admin"]).post("/api/v1/reviews/", {"task": task.pk, "decision": "accept_task"},
                                                      format="json")
    assert r.status_code == 403 and "own task" in r.json()["detail"]
