from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication


class ExpiringTokenAuthentication(TokenAuthentication):
    """`Authorization: Token <key>`; tokens older than NODUS_TOKEN_TTL_HOURS are refused."""

    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        user, token = super().authenticate_credentials(key)
        if token.created < timezone.now() - timedelta(hours=settings.NODUS_TOKEN_TTL_HOURS):
            raise exceptions.AuthenticationFailed("token expired; request a new one")
        return user, token
