"""Label volumes on the wire and on storage: run-length encoded uint8, then zlib (deflate).

Format `rle8+deflate`: zlib stream of packed little-endian records `(value: uint8, count: uint32)`
covering the flattened (slice, row, column) volume in C order. A typical nodule mask of a
512×512×300 CT is a few hundred runs, i.e. a few kilobytes. The browser encodes with
`CompressionStream("deflate")`; the server validates the runs, measures each segment from its
runs (bounding box, then a mask of the box's slices only: a 512×512×300 volume is never
materialised on a save) and stores the canonical re-encoding (equal volumes, equal sha256).
"""

from __future__ import annotations

import zlib

import numpy as np

ENCODING = "rle8+deflate"
RUN = np.dtype([("value", "u1"), ("count", "<u4")])  # packed: 5 bytes a run
MAX_VOXELS = 1024 * 1024 * 1024


class CodecError(ValueError):
    """The payload cannot be decoded into a volume of the declared shape."""


def runs_of(volume: np.ndarray) -> np.ndarray:
    """The canonical (maximal) runs of a uint8 volume in C order."""
    if volume.dtype != np.uint8:
        raise CodecError("label volumes are uint8")
    flat = np.ascontiguousarray(volume).ravel()
    if flat.size == 0:
        raise CodecError("empty volume")
    starts = np.concatenate(([0], np.flatnonzero(flat[1:] != flat[:-1]) + 1))
    counts = np.diff(np.concatenate((starts, [flat.size])))
    runs = np.empty(len(starts), dtype=RUN)
    runs["value"] = flat[starts]
    runs["count"] = counts
    return runs


def encode_runs(runs: np.ndarray) -> bytes:
    return zlib.compress(canonical(runs).tobytes(), 6)


def encode(volume: np.ndarray) -> bytes:
    return encode_runs(runs_of(volume))


def canonical(runs: np.ndarray) -> np.ndarray:
    """Neighbouring runs of one value merged (a client may split runs): equal volumes, equal bytes."""
    values = runs["value"]
    if len(runs) < 2 or (values[1:] != values[:-1]).all():
        return runs
    keep = np.concatenate(([True], values[1:] != values[:-1]))
    group = np.cumsum(keep) - 1
    out = np.empty(int(keep.sum()), dtype=RUN)
    out["value"] = values[keep]
    out["count"] = np.bincount(group, weights=runs["count"].astype(np.float64)).astype(np.uint32)
    return out


def decode_runs(data: bytes, shape: tuple[int, ...]) -> np.ndarray:
    """Validate `data` against `shape` and return its canonical runs (no volume is allocated)."""
    n = int(np.prod(shape, dtype=np.int64))
    if n <= 0 or n > MAX_VOXELS:
        raise CodecError(f"shape {list(shape)} is not a valid label volume")
    limit = n * RUN.itemsize  # at most one run a voxel: bounds a decompression bomb
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise CodecError(f"corrupted compression: {exc}") from exc
    if not inflater.eof:
        raise CodecError("corrupted compression: truncated or oversized stream")
    if inflater.unused_data:
        raise CodecError("corrupted compression: trailing bytes after the stream")
    if len(raw) == 0 or len(raw) % RUN.itemsize:
        raise CodecError(f"run-length data must be a whole number of {RUN.itemsize}-byte runs")
    runs = np.frombuffer(raw, dtype=RUN)
    counts = runs["count"]
    if (counts == 0).any():
        raise CodecError("run-length data has a run of length 0")
    total = int(counts.sum(dtype=np.int64))
    if total != n:
        raise CodecError(f"run-length data covers {total} voxels, shape {list(shape)} has {n}")
    return canonical(runs)


def to_volume(runs: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return np.repeat(runs["value"], runs["count"].astype(np.int64)).reshape(shape)


def decode(data: bytes, shape: tuple[int, ...]) -> np.ndarray:
    """Decode `data` into a uint8 array of `shape`; raises CodecError with a readable reason."""
    return to_volume(decode_runs(data, shape), shape)


def values_present(runs: np.ndarray) -> set[int]:
    return {int(v) for v in np.unique(runs["value"])} - {0}


def segment_runs(runs: np.ndarray, value: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat (start, length) of the runs of one label value."""
    ends = np.cumsum(runs["count"], dtype=np.int64)
    mine = runs["value"] == value
    lengths = runs["count"][mine].astype(np.int64)
    return ends[mine] - lengths, lengths


def segment_box(
    starts: np.ndarray, lengths: np.ndarray, shape: tuple[int, int, int]
) -> tuple[slice, slice, slice] | None:
    """Bounding box (z, y, x slices) of the voxels covered by flat runs, from the runs alone."""
    if len(starts) == 0:
        return None
    _, rows, cols = shape
    plane = rows * cols
    last = starts + lengths - 1
    z0, z1 = starts // plane, last // plane
    y0, y1 = (starts % plane) // cols, (last % plane) // cols
    x0, x1 = starts % cols, last % cols
    multi_slice = z0 != z1
    multi_row = (y0 != y1) | multi_slice
    ylo = np.where(multi_slice, 0, y0).min()
    yhi = np.where(multi_slice, rows - 1, y1).max()
    xlo = np.where(multi_row, 0, x0).min()
    xhi = np.where(multi_row, cols - 1, x1).max()
    return slice(int(z0.min()), int(z1.max()) + 1), slice(int(ylo), int(yhi) + 1), slice(int(xlo), int(xhi) + 1)


def segment_mask(
    starts: np.ndarray, lengths: np.ndarray, shape: tuple[int, int, int], box: tuple[slice, slice, slice]
) -> np.ndarray:
    """The boolean mask of one segment inside its box, filled from its runs (slices of the box only)."""
    _, rows, cols = shape
    plane = rows * cols
    z = box[0]
    base = z.start * plane
    flat = np.zeros((z.stop - z.start) * plane, dtype=bool)
    for s, n in zip((starts - base).tolist(), lengths.tolist(), strict=True):
        flat[s:s + n] = True
    return flat.reshape(z.stop - z.start, rows, cols)[:, box[1], box[2]]
