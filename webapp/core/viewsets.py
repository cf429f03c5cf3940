from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework import viewsets


class ScopedReadOnlyViewSet(viewsets.ReadOnlyModelViewSet):
    """Read-only resource whose queryset comes from a user-scoped selector (`scoped_queryset`);
    filtering uses REST_FRAMEWORK's DEFAULT_FILTER_BACKENDS (strict query parameters first)."""

    def scoped_queryset(self) -> QuerySet[Any]:
        raise NotImplementedError

    def get_queryset(self) -> QuerySet[Any]:
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            model = self.get_serializer_class().Meta.model  # type: ignore[attr-defined]
            return model._default_manager.none()
        return self.scoped_queryset()
