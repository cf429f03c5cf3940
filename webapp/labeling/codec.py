"""Label volumes on the wire and on storage: run-length encoded uint8, then zlib (deflate).

Format `rle8+deflate`: zlib stream of packed little-endian records `(value: uint8, count: uint32)`
covering the flattened (slice, row, column) volume in C order. A typical nodule mask of a
512×512×300 CT is a few hundred runs, i.e. a few kilobytes. The browser encodes with
`CompressionStream("deflate")`; the server decodes with numpy, validates, and stores its own
canonical re-encoding (so equal volumes have equal sha256).
"""

from __future__ import annotations

import zlib

import numpy as np

ENCODING = "rle8+deflate"
RUN = np.dtype([("value", "u1"), ("count", "<u4")])  # packed: 5 bytes a run
MAX_VOXELS = 1024 * 1024 * 1024


class CodecError(ValueError):
    """The payload cannot be decoded into a volume of the declared shape."""


def encode(volume: np.ndarray) -> bytes:
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
    return zlib.compress(runs.tobytes(), 6)


def decode(data: bytes, shape: tuple[int, ...]) -> np.ndarray:
    """Decode `data` into a uint8 array of `shape`; raises CodecError with a readable reason."""
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
    counts = runs["count"].astype(np.int64)
    if (counts == 0).any():
        raise CodecError("run-length data has a run of length 0")
    total = int(counts.sum())
    if total != n:
        raise CodecError(f"run-length data covers {total} voxels, shape {list(shape)} has {n}")
    return np.repeat(runs["value"], counts).reshape(shape)
