"""Run the producer side of an iterator in a worker thread, a bounded number of items ahead.

Ingest alternates CPU work that holds the GIL (reading the request, parsing DICOM headers) with
work that waits (sha256 of whole files, file writes, `syncfs`, PostgreSQL round trips). Parsing
batch k+1 while batch k is stored and indexed keeps both cores busy. The queue between the two
sides holds at most `depth` items, so memory stays bounded."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")

_END = object()
_POLL_S = 0.05


def in_background(source: Iterator[T], *, depth: int = 1, name: str = "prefetch") -> Iterator[T]:
    """Yield the items of `source`, produced in a worker thread at most `depth` items ahead.

    An exception raised by `source` is raised here, after the items before it. When the consumer
    stops early (an exception, or `close()`), the worker stops after its current item and is
    joined before this generator returns. `source` must not use thread-bound state of the caller
    (Django database connections are per thread: do database work on the consumer side)."""
    items: queue.Queue[tuple[bool, object]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry: tuple[bool, object]) -> bool:
        while not stop.is_set():
            try:
                items.put(entry, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in source:
                if not put((True, item)):
                    return
            put((True, _END))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            put((False, exc))

    worker = threading.Thread(target=produce, name=name, daemon=True)
    worker.start()
    try:
        while True:
            ok, item = items.get()
            if not ok:
                assert isinstance(item, BaseException)
                raise item
            if item is _END:
                return
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        worker.join()
