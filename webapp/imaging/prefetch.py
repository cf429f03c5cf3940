"""Run the producer side of an iterator in a worker thread, a bounded number of items ahead.

Ingest alternates CPU work that holds the GIL (reading the request, parsing DICOM headers) with
work that waits (sha256 of whole files, file writes, `syncfs`, PostgreSQL round trips). Parsing
batch k+1 while batch k is stored and indexed keeps both cores busy. At most `depth` items are
alive between the two sides, so memory stays bounded."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")

_END = object()
_POLL_S = 0.05


def in_background(source: Iterator[T], *, depth: int = 2, name: str = "prefetch") -> Iterator[T]:
    """Yield the items of `source`, produced in a worker thread.

    At most `depth` items are alive at once: the one the consumer holds (until it asks for the
    next), those queued, and the one being produced; depth=2 overlaps producing item k+1 with
    consuming item k and holds no more than those two. An exception raised by `source` is raised
    here, after the items before it. When the consumer stops early (an exception, or `close()`),
    the worker stops after its current item and is joined before this generator returns.
    `source` must not use thread-bound state of the caller (Django database connections are per
    thread: do database work on the consumer side)."""
    if depth < 2:
        raise ValueError("depth must be at least 2 (one item consumed, one produced)")
    items: queue.SimpleQueue[tuple[bool, object]] = queue.SimpleQueue()
    slots = threading.Semaphore(depth)
    stop = threading.Event()

    def take_slot() -> bool:
        while not stop.is_set():
            if slots.acquire(timeout=_POLL_S):
                return True
        return False

    def produce() -> None:
        try:
            it = iter(source)
            while take_slot():
                try:
                    item = next(it)
                except StopIteration:
                    items.put((True, _END))
                    return
                items.put((True, item))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            items.put((False, exc))

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
            del item
            slots.release()  # the consumer is done with it: the worker may make another
    finally:
        stop.set()
        worker.join()
