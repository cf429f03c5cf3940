"""Websocket auth: the session cookie (browser) or `?token=` (scripts)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware


@database_sync_to_async
def _user_for_token(key: str) -> Any:
    from rest_framework import exceptions

    from webapp.accounts.authentication import ExpiringTokenAuthentication

    try:
        user, _ = ExpiringTokenAuthentication().authenticate_credentials(key)
        return user
    except exceptions.AuthenticationFailed:
        return None


class _TokenMiddleware(BaseMiddleware):
    async def __call__(self, scope: Any, receive: Any, send: Any) -> Any:
        token = parse_qs(scope.get("query_string", b"").decode()).get("token", [None])[0]
        if token:
            user = await _user_for_token(token)
            if user is not None:
                scope = dict(scope, user=user)
        return await super().__call__(scope, receive, send)


def TokenOrSessionAuthMiddleware(inner: Any) -> Any:  # noqa: N802 - mirrors AuthMiddlewareStack
    return AuthMiddlewareStack(_TokenMiddleware(inner))
