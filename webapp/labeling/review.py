"""Triage of AI suggestions and the review workflow (writes).

Rules enforced here: annotators triage AI suggestions on their own open tasks; reviewers and
admins decide on any finding of a submitted task, comment pinned to a slice or a finding, and
accept the task or return it; nobody reviews their own task; only accepted tasks become training
labels (webapp.ml.services.accepted_dataset); every decision is audited.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from django.db import transaction

from webapp.accounts.models import Role
from webapp.accounts.permissions import require_role
from webapp.audit.services import record
from webapp.core.errors import Conflict, Forbidden, ValidationFailed
from webapp.core.storage import get_storage, put_content_addressed

from . import codec
from .models import Finding, LabelRevision, Review, Task
from .services import copy_finding

log = logging.getLogger(__name__)
MEMBER = frozenset({Role.ANNOTATOR, Role.REVIEWER, Role.ADMIN})
OVERSIGHT = frozenset({Role.REVIEWER, Role.ADMIN})
STATUS_FOR = {"accept": Finding.Status.ACCEPTED, "reject": Finding.Status.REJECTED, "edit": Finding.Status.EDITED}
OPEN = {Task.State.NEW, Task.State.IN_PROGRESS, Task.State.RETURNED}


def _announce(*, task: Task, type_: str, data: dict[str, Any]) -> None:
    from webapp.realtime.publish import publish

    payload = {"task": task.pk, **data}
    publish(f"series.{task.series.series_instance_uid}", type_, payload)
    publish(f"project.{task.project.slug}", type_, payload)


def _same_suggestion(finding: Finding) -> Any:
    """The rows of one suggestion across the task's revisions (the viewer's saves copy it)."""
    qs = Finding.objects.filter(task_id=finding.task_id, segment=finding.segment, source=finding.source)
    if finding.source == Finding.Source.AI:
        return qs.filter(model_version_id=finding.model_version_id)
    return qs.filter(pk=finding.pk)


def _merge_into_head(*, task: Task, finding: Finding, user: Any) -> LabelRevision | None:
    """An accepted AI finding that is not in the annotator's label yet joins it as a new revision
    (its voxels painted with a free segment value where the label is empty)."""
    head = task.head_revision
    if head is None or head.pk == finding.revision_id:
        return None
    if Finding.objects.filter(revision=head, source=Finding.Source.AI, segment=finding.segment,
                              model_version_id=finding.model_version_id).exists():
        return None
    storage = get_storage()
    ai_rev = finding.revision
    volume = codec.decode(storage.read(head.storage_key), tuple(head.shape)).copy()
    ai = codec.decode(storage.read(ai_rev.storage_key), tuple(ai_rev.shape))
    if ai.shape != volume.shape:
        raise Conflict("the AI label is on another grid than the task's label")
    used = {int(v) for v in np.unique(volume)}
    free = next((v for v in range(1, 256) if v not in used), None)
    if free is None:
        raise Conflict("the label has no free segment value left")
    volume[(ai == finding.segment) & (volume == 0)] = free
    blob = codec.encode(volume)
    key, digest = put_content_addressed("labels", blob)
    rev = LabelRevision.objects.create(
        task=task, parent=head, author=user, storage_key=key, encoding=codec.ENCODING, shape=list(volume.shape),
        sha256=digest, size=len(blob), message=f"accepted AI finding {finding.pk}",
    )
    for f in Finding.objects.filter(revision=head):
        copy_finding(f, revision=rev)
    copy_finding(finding, revision=rev, segment=free, source=Finding.Source.AI, status=Finding.Status.ACCEPTED)
    task.head_revision = rev
    task.save(update_fields=["head_revision", "updated"])
    return rev


def decide_finding(*, finding: Finding, user: Any, decision: str, comment: str = "") -> Finding:
    """Accept / reject / edit one finding (viewer keys A / R / E; the review page's buttons)."""
    if decision not in STATUS_FOR:
        raise ValidationFailed("decision must be accept, reject or edit")
    held = require_role(user=user, project_id=finding.task.project_id, roles=MEMBER, what="triaging findings")
    with transaction.atomic():
        task = Task.objects.select_for_update(of=("self",)).select_related("series", "project", "head_revision").get(
            pk=finding.task_id)
        finding = Finding.objects.select_related("revision").get(pk=finding.pk)
        reviewing = bool(held & OVERSIGHT) and task.assignee_id != user.pk
        if task.state == Task.State.ACCEPTED:
            raise Conflict("the task is accepted; its findings are final", state=task.state)
        if not reviewing:
            if task.assignee_id != user.pk and Role.ADMIN not in held:
                raise Forbidden("this task is assigned to someone else")
            if task.state not in OPEN:
                raise Conflict(f"the task is {task.state}; only a reviewer decides now", state=task.state)
            if finding.source != Finding.Source.AI:
                raise ValidationFailed("annotators triage AI suggestions; edit your own findings in the viewer")
        elif task.state != Task.State.SUBMITTED and task.state not in OPEN:
            raise Conflict(f"the task is {task.state}", state=task.state)
        status = STATUS_FOR[decision]
        _same_suggestion(finding).update(status=status)
        merged = _merge_into_head(task=task, finding=finding, user=user) if status == Finding.Status.ACCEPTED \
            and finding.source == Finding.Source.AI else None
        if reviewing and decision in ("accept", "reject"):
            Review.objects.create(task=task, reviewer=user, finding=finding, comment=comment[:5000],
                                  decision=Review.Decision.ACCEPT_FINDING if decision == "accept"
                                  else Review.Decision.REJECT_FINDING)
        record(actor=user, action=f"finding.{decision}", target=finding, project_id=task.project_id,
               data={"task": task.pk, "source": finding.source, "segment": finding.segment,
                     "as": "reviewer" if reviewing else "annotator", "merged_revision": merged.pk if merged else None})
        finding.refresh_from_db()
        head = merged.pk if merged else task.head_revision_id
        transaction.on_commit(lambda: _announce(task=task, type_="finding.decided", data={
            "finding": finding.pk, "status": finding.status, "head_revision": head}))
    return finding


def add_review(
    *, task: Task, reviewer: Any, decision: str, finding: Finding | None = None, slice_index: int | None = None,
    comment: str = "",
) -> Review:
    """A reviewer's decision on a submitted task: comment (pinned to a slice or finding),
    accept_finding / reject_finding, accept_task, return_task (the annotator sees the comments)."""
    require_role(user=reviewer, project_id=task.project_id, roles=OVERSIGHT, what="reviewing")
    if decision not in Review.Decision.values:
        raise ValidationFailed(f"decision must be one of {', '.join(Review.Decision.values)}")
    if finding is not None and finding.task_id != task.pk:
        raise ValidationFailed("that finding belongs to another task")
    if decision in (Review.Decision.ACCEPT_FINDING, Review.Decision.REJECT_FINDING) and finding is None:
        raise ValidationFailed("finding decisions need a finding")
    if decision == Review.Decision.RETURN_TASK and not comment.strip():
        raise ValidationFailed("say what to fix when returning a task")
    if slice_index is not None:
        slices = task.series.num_instances or 0
        if slice_index < 0 or (slices and slice_index >= slices):
            raise ValidationFailed(f"slice_index must be within 0..{max(slices - 1, 0)}")
    with transaction.atomic():
        locked = Task.objects.select_for_update().select_related("series", "project").get(pk=task.pk)
        if locked.assignee_id == reviewer.pk:
            raise Forbidden("nobody reviews their own task")
        if decision != Review.Decision.COMMENT and locked.state != Task.State.SUBMITTED:
            raise Conflict(f"only submitted tasks are reviewed; this one is {locked.state}", state=locked.state)
        if decision == Review.Decision.COMMENT and locked.state == Task.State.ACCEPTED:
            raise Conflict("the task is accepted", state=locked.state)
        if finding is not None and decision in (Review.Decision.ACCEPT_FINDING, Review.Decision.REJECT_FINDING):
            status = Finding.Status.ACCEPTED if decision == Review.Decision.ACCEPT_FINDING else Finding.Status.REJECTED
            _same_suggestion(finding).update(status=status)
        if decision == Review.Decision.ACCEPT_TASK:
            locked.state = Task.State.ACCEPTED
            locked.save(update_fields=["state", "updated"])
        elif decision == Review.Decision.RETURN_TASK:
            locked.state = Task.State.RETURNED
            locked.save(update_fields=["state", "updated"])
        review = Review.objects.create(task=locked, reviewer=reviewer, decision=decision, finding=finding,
                                       slice_index=slice_index, comment=comment[:5000])
        record(actor=reviewer, action=f"review.{decision}", target=review, project_id=locked.project_id,
               data={"task": locked.pk, "finding": finding.pk if finding else None, "slice_index": slice_index,
                     "state": locked.state})
        transaction.on_commit(lambda: _announce(task=locked, type_="task.reviewed", data={
            "review": review.pk, "decision": decision, "state": locked.state}))
    return review
