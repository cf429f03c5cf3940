"""Refuse unknown query parameters instead of silently ignoring them (a typo must not widen results)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework.request import Request

from .errors import ValidationFailed

ALWAYS_ALLOWED = {"page", "page_size", "ordering", "search", "format"}


class StrictQueryParamsBackend:
    def filter_queryset(self, request: Request, queryset: QuerySet[Any], view: Any) -> QuerySet[Any]:
        allowed = set(ALWAYS_ALLOWED) | set(getattr(view, "extra_query_params", ()))
        filterset_class = getattr(view, "filterset_class", None)
        if filterset_class is not None:
            allowed |= set(filterset_class.base_filters)
        allowed |= set(getattr(view, "filterset_fields", None) or ())
        unknown = sorted(set(request.query_params) - allowed)
        if unknown:
            raise ValidationFailed(
                f"unknown query parameter(s): {', '.join(unknown)}",
                allowed=sorted(allowed),
            )
        return queryset

    def get_schema_operation_parameters(self, view: Any) -> list[Any]:
        return []
