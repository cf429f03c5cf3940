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


def test_segment_boxes_and_masks_come_from_the_runs_alone() -> None:
    from scipy import ndimage

    from webapp.labeling.codec import decode_runs, segment_box, segment_mask, segment_runs, values_present

    rng = np.random.default_rng(3)
    vol = np.zeros((7, 9, 11), np.uint8)
    vol[2:5, 3:6, 4:9] = 1
    vol[0, 8, 10] = 2  # a run that ends a slice
    vol[1, 0, 0] = 2  # and one that starts the next
    vol[6, 2, :] = 3  # a whole row
    vol[rng.random(vol.shape) > 0.97] = 4
    runs = decode_runs(encode(vol), vol.shape)
    assert values_present(runs) == {1, 2, 3, 4}
    boxes = ndimage.find_objects(vol)
    for value in (1, 2, 3, 4):
        starts, lengths = segment_runs(runs, value)
        box = segment_box(starts, lengths, vol.shape)
        assert box == boxes[value - 1]
        np.testing.assert_array_equal(segment_mask(starts, lengths, vol.shape, box), vol[box] == value)
    assert segment_box(*segment_runs(runs, 9), vol.shape) is None


def test_split_runs_are_stored_canonically() -> None:
    from webapp.labeling.codec import canonical, decode_runs, encode_runs

    vol = np.zeros((2, 3, 4), np.uint8)
    vol[1, 1, 1:3] = 5
    split = np.array([(0, 10), (0, 7), (5, 1), (5, 1), (0, 5)], dtype=RUN)
    assert encode_runs(split) == encode(vol)
    np.testing.assert_array_equal(decode_runs(zlib.compress(split.tobytes()), vol.shape), canonical(split))
    np.testing.assert_array_equal(decode(zlib.compress(split.tobytes()), vol.shape), vol)
