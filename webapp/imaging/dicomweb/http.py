"""HTTP plumbing for DICOMweb views: authentication (token or session + CSRF), errors in the
project's JSON shape, Accept parsing, multipart/related reading (streamed) and writing, gzip."""

from __future__ import annotations

import asyncio
import functools
import json
import re
import uuid
import zlib
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions as drf_exceptions
from rest_framework.authentication import SessionAuthentication
from rest_framework.request import Request

from webapp.accounts.authentication import ExpiringTokenAuthentication
from webapp.core.errors import DomainError, error_body

CHUNK = 1 << 20
OUT_CHUNK = 4 << 20  # response blocks: fewer thread hops and ASGI messages


def dicomweb_view(methods: set[str]) -> Callable[[Callable[..., HttpResponseBase]], Callable[..., HttpResponseBase]]:
    """Authenticate like the REST API, render DomainErrors as JSON, refuse other methods with 405."""

    def wrap(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
        @csrf_exempt  # session-authenticated writes are CSRF-checked by SessionAuthentication below
        @functools.wraps(view)
        def inner(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if request.method not in methods:
                return JsonResponse({"error": "method_not_allowed", "detail": f"{request.method} is not allowed"},
                                    status=405, headers={"Allow": ", ".join(sorted(methods))})
            try:
                user = _authenticate(request)
                if user is None or not user.is_authenticated:
                    return JsonResponse({"error": "not_authenticated", "detail": "authentication required"},
                                        status=401, headers={"WWW-Authenticate": "Token"})
                request.user = user
                return view(request, *args, **kwargs)
            except DomainError as exc:
                return JsonResponse(error_body(exc), status=exc.status_code)
            except drf_exceptions.APIException as exc:
                return JsonResponse({"error": exc.get_codes(), "detail": str(exc.detail)}, status=exc.status_code,
                                    headers={"WWW-Authenticate": "Token"} if exc.status_code == 401 else None)

        return inner

    return wrap


def _authenticate(request: HttpRequest) -> Any:
    authenticators = [ExpiringTokenAuthentication(), SessionAuthentication()]
    drf_request = Request(request, authenticators=authenticators)
    for authenticator in authenticators:
        result = authenticator.authenticate(drf_request)
        if result is not None:
            return result[0]
    return None


@dataclass
class MediaRange:
    type: str
    params: dict[str, str]


def parse_accept(header: str) -> list[MediaRange]:
    out = []
    for part in re.split(r",(?=(?:[^\"]*\"[^\"]*\")*[^\"]*$)", header or ""):
        part = part.strip()
        if not part:
            continue
        pieces = [p.strip() for p in re.split(r";(?=(?:[^\"]*\"[^\"]*\")*[^\"]*$)", part)]
        params = {}
        for p in pieces[1:]:
            key, _, value = p.partition("=")
            params[key.strip().lower()] = value.strip().strip('"')
        out.append(MediaRange(type=pieces[0].lower(), params=params))
    return out


def wants_gzip(request: HttpRequest) -> bool:
    return "gzip" in request.headers.get("Accept-Encoding", "")


def json_response(request: HttpRequest, text: str, *, content_type: str = "application/dicom+json",
                  status: int = 200) -> HttpResponse:
    body = text.encode()
    response = HttpResponse(status=status, content_type=content_type)
    if wants_gzip(request) and len(body) > 1024:
        body = zlib.compress(body, 1, wbits=31)  # wbits=31: gzip container
        response["Content-Encoding"] = "gzip"
    response["Vary"] = "Accept-Encoding"
    response.content = body
    return response


def dicom_json(request: HttpRequest, items: list[dict[str, Any]], **kwargs: Any) -> HttpResponse:
    return json_response(request, json.dumps(items, separators=(",", ":")), **kwargs)


@dataclass
class Part:
    content_type: str
    body: bytes
    location: str = ""


def multipart_response(request: HttpRequest, parts: Iterable[Part], *, part_type: str,
                       transfer_syntax: str | None = None, compress: bool = True) -> StreamingHttpResponse:
    """multipart/related streamed in ~4 MB blocks, gzip-encoded when the client accepts it (and
    `compress`).

    Under ASGI the body is an async iterator that pulls each block in a worker thread (file reads,
    transcoding and gzip release the GIL or are CPU work that must not block the event loop): Django
    would otherwise consume a sync iterator *whole* into a list before sending the first byte."""
    boundary = uuid.uuid4().hex
    ctype = f'multipart/related; type="{part_type}"; boundary={boundary}'
    if transfer_syntax:
        ctype += f"; transfer-syntax={transfer_syntax}"
    gzip = compress and wants_gzip(request)
    blocks = _Blocks(iter(parts), boundary, gzip)
    stream: Iterator[bytes] | AsyncIterator[bytes]
    stream = _async_blocks(blocks) if isinstance(request, ASGIRequest) else iter(blocks.next_block, b"")
    response = StreamingHttpResponse(stream, content_type=ctype)
    if gzip:
        response["Content-Encoding"] = "gzip"
    response["Vary"] = "Accept-Encoding"
    return response


class _Blocks:
    """The multipart body as a pull-based sequence of blocks (b"" when done)."""

    def __init__(self, parts: Iterator[Part], boundary: str, gzip: bool) -> None:
        self.parts = parts
        self.boundary = boundary
        self.comp = zlib.compressobj(1, zlib.DEFLATED, 31) if gzip else None  # wbits=31: gzip container
        self.done = False

    def next_block(self) -> bytes:
        while not self.done:
            pending: list[bytes] = []
            size = 0
            for part in self.parts:
                head = f"--{self.boundary}\r\nContent-Type: {part.content_type}\r\n"
                if part.location:
                    head += f"Content-Location: {part.location}\r\n"
                pending += [head.encode(), b"\r\n", part.body, b"\r\n"]
                size += len(part.body)
                if size >= OUT_CHUNK:
                    break
            else:
                pending.append(f"--{self.boundary}--\r\n".encode())
                self.done = True
            block = b"".join(pending)
            if self.comp is not None:
                block = self.comp.compress(block) + (self.comp.flush() if self.done else b"")
            if block:
                return block
        return b""


async def _async_blocks(blocks: _Blocks) -> AsyncIterator[bytes]:
    while True:
        block = await asyncio.to_thread(blocks.next_block)
        if not block:
            return
        yield block


class Interrupted(Exception):
    """The body ended before the closing boundary: the last part is incomplete."""

    def __init__(self, partial: bytes) -> None:
        super().__init__("upload interrupted")
        self.partial = partial


def multipart_boundary(content_type: str) -> str | None:
    m = re.search(r'boundary="?([^";]+)"?', content_type or "")
    return m.group(1) if m else None


def iter_multipart(stream: Any, boundary: str, *, max_part: int) -> Iterator[tuple[dict[str, str], bytes]]:
    """Parts of a multipart body read incrementally from `stream` (bounded memory per part)."""
    delim = b"--" + boundary.encode()
    sep = b"\r\n" + delim
    buf = bytearray()

    def fill() -> bool:
        chunk = stream.read(CHUNK)
        if not chunk:
            return False
        buf.extend(chunk)
        return True

    # Preamble up to the first delimiter.
    while True:
        idx = buf.find(delim)
        if idx >= 0:
            del buf[: idx + len(delim)]
            break
        if not fill():
            return
    while True:
        while len(buf) < 2 and fill():
            pass
        if buf.startswith(b"--"):
            return  # closing delimiter
        # Part headers end at the first empty line.
        while (end := buf.find(b"\r\n\r\n")) < 0:
            if not fill():
                raise Interrupted(b"")
        headers: dict[str, str] = {}
        for line in buf[:end].decode("latin-1").split("\r\n"):
            key, _, value = line.partition(":")
            if key.strip():
                headers[key.strip().lower()] = value.strip()
        del buf[: end + 4]
        start = 0
        while (idx := buf.find(sep, start)) < 0:
            start = max(0, len(buf) - len(sep))
            if len(buf) > max_part:
                from webapp.core.errors import PayloadTooLarge

                raise PayloadTooLarge(f"a part is larger than {max_part} bytes")
            if not fill():
                raise Interrupted(bytes(buf))
        with memoryview(buf) as view:
            part = bytes(view[:idx])  # one copy (bytes(buf[:idx]) made two)
        yield headers, part
        del buf[: idx + len(sep)]
