"""REST of triage and review: `reviews/` and `findings/{id}/decision/` (thin views)."""

from __future__ import annotations

from typing import Any

import django_filters
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from webapp.accounts.selectors import is_any_project_reviewer
from webapp.core.errors import Forbidden, NotFound
from webapp.core.viewsets import ScopedReadOnlyViewSet

from . import review, selectors
from .models import Review


class ReviewOut(serializers.ModelSerializer):
    reviewer: serializers.SlugRelatedField = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Review
        fields = ["id", "task", "reviewer", "decision", "finding", "slice_index", "comment", "created"]


class ReviewIn(serializers.Serializer):
    task = serializers.IntegerField()
    decision = serializers.ChoiceField(choices=Review.Decision.choices)
    finding = serializers.IntegerField(required=False, allow_null=True)
    slice_index = serializers.IntegerField(required=False, allow_null=True)
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)


class DecisionIn(serializers.Serializer):
    decision = serializers.ChoiceField(choices=["accept", "reject", "edit"])
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)


class ReviewFilter(django_filters.FilterSet):
    class Meta:
        model = Review
        fields = ["task", "decision", "finding"]


class ReviewViewSet(ScopedReadOnlyViewSet):
    """GET reviews of the tasks the user sees (the annotator sees those on their tasks); POST
    `{task, decision, finding?, slice_index?, comment}` as a reviewer of the task's project."""

    serializer_class = ReviewOut
    filterset_class = ReviewFilter
    ordering_fields = ["created"]

    def scoped_queryset(self) -> Any:
        return selectors.reviews_for(user=self.request.user).order_by("created", "id")

    def create(self, request: Request) -> Response:
        if not is_any_project_reviewer(user=request.user):
            raise Forbidden("reviewing requires the reviewer role")
        s = ReviewIn(data=request.data)
        s.is_valid(raise_exception=True)
        data = s.validated_data
        task = selectors.tasks_for(user=request.user).filter(pk=data["task"]).first()
        if task is None:
            raise NotFound("no such task")
        finding = None
        if data.get("finding"):
            finding = selectors.findings_for(user=request.user).filter(pk=data["finding"]).first()
            if finding is None:
                raise NotFound("no such finding")
        r = review.add_review(task=task, reviewer=request.user, decision=data["decision"], finding=finding,
                              slice_index=data.get("slice_index"), comment=data.get("comment", ""))
        return Response(ReviewOut(r).data, status=status.HTTP_201_CREATED)


class FindingDecisionView(APIView):
    """POST /api/v1/findings/{id}/decision/ `{"decision": "accept"|"reject"|"edit", "comment"?}`
    → the finding (status) and the task's head revision (an accepted AI finding may add one)."""

    permission_classes = [IsAuthenticated]

    def post(self, request: Request, pk: int) -> Response:
        finding = selectors.findings_for(user=request.user).filter(pk=pk).first()
        if finding is None:
            raise NotFound("no such finding")
        s = DecisionIn(data=request.data)
        s.is_valid(raise_exception=True)
        f = review.decide_finding(finding=finding, user=request.user, decision=s.validated_data["decision"],
                                  comment=s.validated_data.get("comment", ""))
        f.task.refresh_from_db(fields=["head_revision"])
        return Response({"id": f.pk, "status": f.status, "source": f.source, "segment": f.segment,
                         "task": f.task_id, "head_revision": f.task.head_revision_id})
