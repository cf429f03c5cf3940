"""STOW-RS request bodies read as the view consumes them, instead of spooled first.

Django's ASGI handler copies a whole request body into a `SpooledTemporaryFile` (on disk above
FILE_UPLOAD_MAX_MEMORY_SIZE) before it runs any middleware or view, and the STOW-RS view then reads
it back. For a 150 MB series that is a second full copy on disk, and the storage's `syncfs` after
each batch had to flush it too. For `POST …/dicomweb/studies[/{uid}]` this handler gives the request
a body object that pulls ASGI messages from the server only when the view reads: the same
middleware, authentication, permission checks, view and JSON errors run as for every request;
only where the bytes come from differs. Memory stays bounded by what the view holds (one block plus
the parts of one ingest batch)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from django.core.handlers.asgi import ASGIHandler

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]

# The routes whose POST is STOW-RS (webapp/imaging/dicomweb/urls.py, mounted at /dicomweb/ and at
# /projects/<slug>/dicomweb/). A path that matches here but not in the URLconf is a 404 as usual.
STOW_PATH = re.compile(r"/(?:projects/[-a-zA-Z0-9_]+/)?dicomweb/studies(?:/[^/]+)?")


def is_stow(scope: MutableMapping[str, Any]) -> bool:
    if scope.get("type") != "http" or scope.get("method") != "POST":
        return False
    path = str(scope.get("path", ""))
    root = str(scope.get("root_path", ""))
    if root and path.startswith(root):
        path = path[len(root):]
    return STOW_PATH.fullmatch(path) is not None


class StreamedBody:
    """A request body (`read`, `readline`, `close`) filled from ASGI `http.request` messages on
    demand. `read` runs in a thread other than the event loop's (the sync view's, or the ingest
    prefetch thread) and waits for the loop to fetch the next block. Called as an ASGI `receive`, it is what Django's
    disconnect listener sees: nothing until the body has been read, then the server's messages."""

    idle_timeout_s = 60.0

    def __init__(self, receive: Receive, *, block: int = 1 << 20) -> None:
        self._receive = receive
        self._block = block
        self._buffer = b""
        self._done = False  # the last body message (or a disconnect) has been received
        self.disconnected = False
        self._body_read = asyncio.Event()
        self._loop = asyncio.get_running_loop()

    async def __call__(self) -> Message:
        await self._body_read.wait()
        if self.disconnected:
            return {"type": "http.disconnect"}
        return await self._receive()

    async def _pull(self, want: int) -> list[bytes]:
        pieces: list[bytes] = []
        size = 0
        while not self._done and size < want:
            message = await self._receive()
            kind = message.get("type")
            if kind == "http.disconnect":
                # The client went away: the body ends here; the multipart reader reports the
                # last part as interrupted and nothing of it is indexed.
                self.disconnected = True
                self._done = True
            elif kind == "http.request":
                body = message.get("body", b"")
                if body:
                    pieces.append(body)
                    size += len(body)
                self._done = not message.get("more_body", False)
        if self._done:
            self._body_read.set()
        return pieces

    def _fill(self, want: int) -> None:
        if not self._done and want > 0:
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is self._loop:
                raise RuntimeError("a streamed request body is read from a worker thread, not the event loop")
            future = asyncio.run_coroutine_threadsafe(self._pull(max(want, self._block)), self._loop)
            try:
                pieces = future.result(timeout=self.idle_timeout_s)
            except concurrent.futures.TimeoutError:
                # Nothing arrived for a long time: treat the client as gone (no hang); the
                # multipart reader reports the last part as interrupted.
                future.cancel()
                self.disconnected = True
                self._done = True
                self._loop.call_soon_threadsafe(self._body_read.set)
                return
            if pieces:
                self._buffer = b"".join([self._buffer, *pieces]) if self._buffer else b"".join(pieces)

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            while not self._done:
                self._fill(self._block)
            out, self._buffer = self._buffer, b""
            return out
        if len(self._buffer) < size:
            self._fill(size - len(self._buffer))
        out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out

    def readline(self, size: int | None = -1) -> bytes:
        limit = size if size is not None and size >= 0 else None
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0 and (limit is None or end < limit):
                return self.read(end + 1)
            if limit is not None and len(self._buffer) >= limit:
                return self.read(limit)
            if self._done:
                return self.read(limit if limit is not None else -1)
            self._fill(self._block)

    def close(self) -> None:
        self._buffer = b""


class StreamingStowHandler(ASGIHandler):
    """Django's ASGI handler; STOW-RS requests get a `StreamedBody` instead of a spooled one."""

    async def handle(self, scope: Any, receive: Any, send: Any) -> None:
        if is_stow(scope):
            receive = StreamedBody(receive)
        await super().handle(scope, receive, send)

    async def read_body(self, receive: Any) -> Any:
        if isinstance(receive, StreamedBody):
            return receive
        return await super().read_body(receive)
