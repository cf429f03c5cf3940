"""ASGI entry point: HTTP through Django, websockets through Channels (authenticated)."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.config.settings")
django.setup(set_prefix=False)  # as django.core.asgi.get_asgi_application does

from webapp.imaging.dicomweb.stream import StreamingStowHandler  # noqa: E402

# Django's handler, except that STOW-RS bodies are read as the view consumes them (not spooled).
django_asgi = StreamingStowHandler()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from webapp.imaging.dicomweb.asgi import CoalesceRequestBody  # noqa: E402
from webapp.realtime.auth import TokenOrSessionAuthMiddleware  # noqa: E402
from webapp.realtime.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": CoalesceRequestBody(django_asgi),  # large STOW/upload bodies in 1 MB blocks
        "websocket": AllowedHostsOriginValidator(
            TokenOrSessionAuthMiddleware(URLRouter(websocket_urlpatterns))
        ),
    }
)
