"""Prefetching ingest: the worker thread stays a bounded number of items ahead, errors arrive in
order, an early stop ends the worker, and ingest results do not depend on prefetching."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from webapp.imaging.prefetch import in_background
from webapp.imaging.services import IncomingFile, ingest_files


def test_items_arrive_in_order_produced_in_another_thread():
    threads: set[str] = set()

    def source() -> Iterator[int]:
        for i in range(50):
            threads.add(threading.current_thread().name)
            yield i

    assert list(in_background(source(), name="t-prefetch")) == list(range(50))
    assert threads == {"t-prefetch"}


@pytest.mark.parametrize("depth", [2, 3])
def test_at_most_depth_items_are_alive(depth):
    produced: list[int] = []

    def source() -> Iterator[int]:
        for i in range(100):
            produced.append(i)
            yield i

    def settled(n: int) -> int:
        deadline = time.monotonic() + 10
        while len(produced) < n and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)  # time to overshoot, if it would
        return len(produced)

    items = in_background(source(), depth=depth)
    assert next(items) == 0
    assert settled(depth) == depth  # the one held + what was made ahead, and no more
    assert next(items) == 1
    assert settled(depth + 1) == depth + 1
    items.close()


def test_depth_below_two_is_refused():
    with pytest.raises(ValueError):
        next(in_background(iter([1]), depth=1))


def test_an_error_in_the_source_is_raised_after_the_items_before_it():
    def source() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("bad part")

    seen: list[int] = []
    with pytest.raises(ValueError, match="bad part"):
        for item in in_background(source()):
            seen.append(item)
    assert seen == [1, 2]


def test_stopping_early_stops_and_joins_the_worker():
    produced: list[int] = []

    def source() -> Iterator[int]:
        for i in range(10_000):
            produced.append(i)
            yield i

    before = threading.active_count()
    items = in_background(source(), name="t-early")
    assert next(items) == 0
    items.close()
    assert threading.active_count() == before
    assert len(produced) < 10
    assert not any(t.name == "t-early" for t in threading.enumerate())


@pytest.mark.django_db
@pytest.mark.parametrize("prefetch", [False, True])
def test_ingest_results_and_batches_do_not_depend_on_prefetch(world, phantom_series, prefetch):
    paths = phantom_series(slices=5, patient_id=f"PREFETCH-{prefetch}")
    data = [p.read_bytes() for p in paths]
    files = [IncomingFile(f"f{i}.dcm", d) for i, d in enumerate(data)]
    files.insert(2, IncomingFile("junk.txt", b"not dicom" * 100))
    files.append(IncomingFile("again.dcm", data[0]))  # identical bytes: already present
    batches: list[int] = []
    # About two files per batch by size: memory per batch is bounded by bytes, not only by count.
    report = ingest_files(project=world["project"], files=iter(files), actor=None, source="test",
                          batch_bytes=2 * len(data[0]) - 1, progress=lambda done: batches.append(len(done)),
                          prefetch=prefetch)
    assert [r.status for r in report.results] == ["stored", "stored", "refused", "stored", "stored", "stored",
                                                  "present"]
    assert report.results[2].name == "junk.txt" and report.results[2].rule == "not_dicom"
    assert batches == [2, 3, 2]  # f0 f1 | junk f2 f3 | f4 again
