from __future__ import annotations

import zlib

import numpy as np
import pytest

from webapp.labeling.codec import RUN, CodecError, decode, encode


def test_round_trip_keeps_every_voxel() -> None:
    rng = np.random.default_rng(0)
    vol = (rng.random((5, 7, 9)) > 0.8).astype(np.uint8) * 3
    assert np.array_equal(decode(encode(vol), vol.shape), vol)


def test_typical_nodule_mask_of_a_large_ct_is_a_few_kilobytes() -> None:
    vol = np.zeros((300, 512, 512), dtype=np.uint8)
    z, y, x = np.ogrid[:300, :512, :512]
    vol[((z - 150) * 2.5) ** 2 + ((y - 250) * 0.7) ** 2 + ((x - 260) * 0.7) ** 2 <= 6**2] = 1
    assert len(encode(vol)) < 20_000


def test_run_total_must_match_the_shape() -> None:
    with pytest.raises(CodecError, match="covers"):
        decode(encode(np.zeros((2, 2, 2), np.uint8)), (2, 2, 3))


def test_garbage_is_refused() -> None:
    with pytest.raises(CodecError, match="corrupted"):
        decode(b"not zlib at all", (2, 2, 2))
    runs = np.zeros(1, dtype=RUN)
    with pytest.raises(CodecError, match="length 0"):
        decode(zlib.compress(runs.tobytes()), (1, 1, 1))
    with pytest.raises(CodecError, match="whole number"):
        decode(zlib.compress(b"\x00\x01"), (1, 1, 1))


def test_decompression_bomb_is_bounded() -> None:
    bomb = zlib.compress(b"\x00" * 10_000_000)
    with pytest.raises(CodecError):
        decode(bomb, (2, 2, 2))
