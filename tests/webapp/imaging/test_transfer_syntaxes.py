"""Transfer syntaxes round trip: files made here with pydicom (and its encoders: RLE, JPEG-LS,
JPEG 2000; JPEG baseline through Pillow, JPEG lossless through GDCM) are ingested, then

- `frames/{n}` returns the decoded pixels (compared with numpy, exactly for lossless syntaxes),
- `rendered` is an image of the right size,
- the instance by default is Explicit VR Little Endian that decodes to the same pixels,
- `transfer-syntax=*` returns the stored bytes unchanged.

Also multi-frame instances (frames/2 is frame 2) and 2D modalities (CR, DX, US with RGB)."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    JPEG2000,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
    generate_uid,
)

from tests.conftest import client_as
from webapp.imaging.models import Instance
from webapp.imaging.services import IncomingFile, ingest_files

pytestmark = pytest.mark.django_db

CT, CR, DX, US = ("1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.1", "1.2.840.10008.5.1.4.1.1.1.1",
                  "1.2.840.10008.5.1.4.1.1.6.1")
MULTIFRAME_CT = "1.2.840.10008.5.1.4.1.1.2.1"  # Enhanced CT


# --- making files -------------------------------------------------------------------------------------------


def gray16(rows: int = 32, cols: int = 40, frames: int = 1, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = np.add.outer(np.arange(rows), np.arange(cols)).astype(np.uint16) * 37 % 4096
    out = np.stack([(base + rng.integers(0, 64, (rows, cols)) + 500 * f).astype(np.uint16) % 4096
                    for f in range(frames)])
    return out if frames > 1 else out[0]


def rgb8(rows: int = 24, cols: int = 32) -> np.ndarray:
    y, x = np.mgrid[0:rows, 0:cols]
    return np.stack([(x * 8) % 256, (y * 10) % 256, ((x + y) * 4) % 256], axis=-1).astype(np.uint8)


def dataset(pixels: np.ndarray, *, sop_class: str = CT, modality: str = "CT", frames: int = 1,
            photometric: str | None = None) -> Dataset:
    study, series = generate_uid(), generate_uid()
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, ds.file_meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
    ds.PatientID, ds.PatientName, ds.Modality = "TS-1", "Syntax^Test", modality
    ds.StudyDate, ds.SeriesNumber, ds.InstanceNumber = "20250101", 1, 1
    color = pixels.ndim == (4 if frames > 1 else 3)
    ds.Rows, ds.Columns = pixels.shape[-3:-1] if color else pixels.shape[-2:]
    ds.SamplesPerPixel = 3 if color else 1
    ds.PhotometricInterpretation = photometric or ("RGB" if color else "MONOCHROME2")
    if color:
        ds.PlanarConfiguration = 0
    ds.BitsAllocated = pixels.dtype.itemsize * 8
    ds.BitsStored = 12 if ds.BitsAllocated == 16 else 8
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 0
    if frames > 1:
        ds.NumberOfFrames = frames
    if modality == "CT":
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [0, 0, 0]
        ds.PixelSpacing = [0.7, 0.7]
        ds.SliceThickness = 1.0
        ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
        ds.WindowCenter, ds.WindowWidth = 40, 400
    ds.PixelData = pixels.tobytes()
    return ds


def to_file(ds: Dataset) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def explicit_le(ds: Dataset) -> bytes:
    return to_file(ds)


def implicit_le(ds: Dataset) -> bytes:
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    return to_file(ds)


def deflated(ds: Dataset) -> bytes:
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    return to_file(ds)


def big_endian(ds: Dataset) -> bytes:
    arr = ds.pixel_array
    ds.file_meta.TransferSyntaxUID = ExplicitVRBigEndian
    ds.PixelData = arr.astype(arr.dtype.newbyteorder(">")).tobytes()
    return to_file(ds)


def compressed(uid: str, **kwargs: Any) -> Callable[[Dataset], bytes]:
    def make(ds: Dataset) -> bytes:
        ds.compress(uid, **kwargs)
        return to_file(ds)

    make.__name__ = f"compressed {uid}"
    return make


def jpeg_baseline(ds: Dataset) -> bytes:
    """8-bit JPEG baseline through Pillow (pydicom has no JPEG baseline encoder)."""
    arr = ds.pixel_array
    frames = arr if int(ds.get("NumberOfFrames", 1) or 1) > 1 else [arr]
    streams = []
    for frame in frames:
        buf = io.BytesIO()
        Image.fromarray(frame.astype(np.uint8)).save(buf, "JPEG", quality=95)
        streams.append(buf.getvalue())
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    if ds.SamplesPerPixel == 3:
        ds.PhotometricInterpretation = "YBR_FULL_422"
    ds.PixelData = encapsulate(streams)
    ds["PixelData"].VR = "OB"
    return to_file(ds)


def jpeg_lossless_gdcm(ds: Dataset) -> bytes:
    """JPEG lossless (process 14, SV1) transcoded by GDCM."""
    gdcm = pytest.importorskip("gdcm")
    import os
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        src, dst = os.path.join(tmp, "in.dcm"), os.path.join(tmp, "out.dcm")
        with open(src, "wb") as f:
            f.write(to_file(ds))
        reader = gdcm.ImageReader()
        reader.SetFileName(src)
        assert reader.Read()
        change = gdcm.ImageChangeTransferSyntax()
        change.SetTransferSyntax(gdcm.TransferSyntax(gdcm.TransferSyntax.JPEGLosslessProcess14_1))
        change.SetInput(reader.GetImage())
        if not change.Change():
            pytest.skip("GDCM cannot encode JPEG lossless here")
        writer = gdcm.ImageWriter()
        writer.SetFileName(dst)
        writer.SetFile(reader.GetFile())
        writer.SetImage(change.GetOutput())
        assert writer.Write()
        with open(dst, "rb") as f:
            data = f.read()
    assert pydicom.dcmread(io.BytesIO(data)).file_meta.TransferSyntaxUID == JPEGLosslessSV1
    return data


# name, maker, tolerance (0 = lossless: exact)
GRAY_SYNTAXES: list[tuple[str, Callable[[Dataset], bytes], int]] = [
    ("explicit VR little endian", explicit_le, 0),
    ("implicit VR little endian", implicit_le, 0),
    ("deflated explicit VR little endian", deflated, 0),
    ("explicit VR big endian", big_endian, 0),
    ("RLE lossless", compressed(RLELossless), 0),
    ("JPEG-LS lossless", compressed(JPEGLSLossless), 0),
    ("JPEG-LS near-lossless", compressed(JPEGLSNearLossless, jls_error=2), 2),
    ("JPEG 2000 lossless", compressed(JPEG2000Lossless), 0),
    ("JPEG 2000 lossy", compressed(JPEG2000, j2k_psnr=[80]), 40),
    ("JPEG lossless SV1 (GDCM)", jpeg_lossless_gdcm, 0),
]


# --- the server side ----------------------------------------------------------------------------------------


def ingest(world, data: bytes) -> Instance:
    report = ingest_files(project=world["project"], files=[IncomingFile("x.dcm", data)], actor=None, source="test")
    assert report.summary()["stored"] == 1, [r.as_dict() for r in report.results]
    return Instance.objects.select_related("series__study").get(sop_instance_uid=report.results[0].sop_instance_uid)


def url(world, inst: Instance) -> str:
    return (f"/projects/{world['project'].slug}/dicomweb/studies/{inst.series.study.study_instance_uid}/series/"
            f"{inst.series.series_instance_uid}/instances/{inst.sop_instance_uid}")


def body_of(response: Any) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def parts(response: Any) -> list[tuple[dict[str, str], bytes]]:
    assert response.status_code == 200, body_of(response)[:300]
    ctype = response["Content-Type"]
    boundary = ctype.split("boundary=")[1].split(";")[0].strip('"')
    out = []
    for chunk in body_of(response).split(b"--" + boundary.encode())[1:-1]:
        head, _, content = chunk[2:].partition(b"\r\n\r\n")
        headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n") if ": " in line)
        out.append((headers, content[:-2]))
    return out


def get_frames(client: Any, base: str, numbers: str) -> list[bytes]:
    r = client.get(f"{base}/frames/{numbers}", HTTP_ACCEPT='multipart/related; type="application/octet-stream"')
    return [content for _, content in parts(r)]


def check_round_trip(world, data: bytes, expected: np.ndarray, *, tolerance: int = 0, frames: int = 1) -> None:
    stored_ts = pydicom.dcmread(io.BytesIO(data)).file_meta.TransferSyntaxUID
    inst = ingest(world, data)
    assert inst.transfer_syntax_uid == stored_ts and inst.number_of_frames == frames
    client = client_as(world.users["annotator"])
    base = url(world, inst)
    frame_shape = expected.shape[1:] if frames > 1 else expected.shape
    dtype = expected.dtype.newbyteorder("<")

    # frames/{n}: decoded, little endian, in the stored colour space.
    for n in range(1, frames + 1):
        (raw,) = get_frames(client, base, str(n))
        got = np.frombuffer(raw, dtype=dtype).reshape(frame_shape).astype(np.int32)
        want = (expected[n - 1] if frames > 1 else expected).astype(np.int32)
        assert np.abs(got - want).max() <= tolerance, f"frame {n}"

    # rendered: an image of the frame's size.
    for media in ("image/png", "image/jpeg"):
        r = client.get(f"{base}/rendered", HTTP_ACCEPT=media)
        assert r.status_code == 200 and r["Content-Type"] == media
        assert Image.open(io.BytesIO(r.content)).size == (frame_shape[1], frame_shape[0])

    # Default: Explicit VR Little Endian that decodes to the same pixels.
    r = client.get(base)
    ((headers, default),) = parts(r)
    assert f"transfer-syntax={ExplicitVRLittleEndian}" in headers["Content-Type"]
    ds = pydicom.dcmread(io.BytesIO(default))
    assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert np.abs(ds.pixel_array.astype(np.int32) - expected.astype(np.int32)).max() <= tolerance
    assert ds.SOPInstanceUID == inst.sop_instance_uid

    # transfer-syntax=*: the stored bytes, unchanged.
    r = client.get(base, HTTP_ACCEPT='multipart/related; type="application/dicom"; transfer-syntax=*')
    ((headers, stored),) = parts(r)
    assert stored == data
    assert f"transfer-syntax={stored_ts}" in headers["Content-Type"]


@pytest.mark.parametrize(("name", "make", "tolerance"), GRAY_SYNTAXES, ids=[s[0] for s in GRAY_SYNTAXES])
def test_grayscale_round_trip(world, name, make, tolerance):
    pixels = gray16()
    check_round_trip(world, make(dataset(pixels)), pixels, tolerance=tolerance)


def test_jpeg_baseline_8bit_round_trip(world):
    pixels = (gray16() // 16).astype(np.uint8)
    check_round_trip(world, jpeg_baseline(dataset(pixels)), pixels, tolerance=12)


@pytest.mark.parametrize(("name", "make", "tolerance"), [s for s in GRAY_SYNTAXES if s[0] in {
    "explicit VR little endian", "implicit VR little endian", "explicit VR big endian", "RLE lossless",
    "JPEG-LS lossless", "JPEG 2000 lossless"}], ids=lambda v: v if isinstance(v, str) else "")
def test_multiframe_frames_are_addressed_by_number(world, name, make, tolerance):
    pixels = gray16(frames=3, seed=3)
    data = make(dataset(pixels, sop_class=MULTIFRAME_CT, frames=3))
    check_round_trip(world, data, pixels, tolerance=tolerance, frames=3)
    inst = Instance.objects.get(sop_instance_uid=pydicom.dcmread(io.BytesIO(data)).SOPInstanceUID)
    client = client_as(world.users["annotator"])
    base = url(world, inst)
    second, first = get_frames(client, base, "2,1")
    assert np.array_equal(np.frombuffer(second, "<u2").reshape(32, 40), pixels[1])
    assert np.array_equal(np.frombuffer(first, "<u2").reshape(32, 40), pixels[0])
    assert client.get(f"{base}/frames/4").status_code == 404
    r = client.get(f"{base}/rendered?frame=3")
    assert r.status_code == 200
    assert client.get(f"{base}/rendered?frame=4").status_code == 404
    meta = client.get(f"{base}/metadata").json()[0]
    assert meta["7FE00010"]["BulkDataURI"].endswith("/frames/1,2,3")


@pytest.mark.parametrize(("sop_class", "modality", "photometric"), [
    (CR, "CR", "MONOCHROME1"), (DX, "DX", "MONOCHROME2")])
def test_2d_radiographs_ingest_and_render(world, sop_class, modality, photometric):
    pixels = gray16(rows=48, cols=36, seed=5)
    ds = dataset(pixels, sop_class=sop_class, modality=modality, photometric=photometric)
    ds.ImagerPixelSpacing = [0.15, 0.15]
    check_round_trip(world, explicit_le(ds), pixels)
    inst = Instance.objects.get(sop_instance_uid=ds.SOPInstanceUID)
    assert inst.series.modality == modality and inst.series.rows == 48 and inst.series.columns == 36
    png = client_as(world.users["annotator"]).get(f"{url(world, inst)}/rendered")
    image = np.asarray(Image.open(io.BytesIO(png.content)))
    # MONOCHROME1 is inverted for display: the brightest stored value renders darkest.
    hi = np.unravel_index(np.argmax(pixels), pixels.shape)
    lo = np.unravel_index(np.argmin(pixels), pixels.shape)
    assert (image[hi] < image[lo]) if photometric == "MONOCHROME1" else (image[hi] > image[lo])


@pytest.mark.parametrize("make", [explicit_le, compressed(RLELossless), jpeg_baseline],
                         ids=["explicit VR LE", "RLE", "JPEG baseline YBR_FULL_422"])
def test_ultrasound_rgb_ingests_and_renders_in_colour(world, make):
    pixels = rgb8()
    data = make(dataset(pixels, sop_class=US, modality="US"))
    lossy = make is jpeg_baseline
    inst = ingest(world, data)
    assert inst.samples_per_pixel == 3 and inst.series.modality == "US"
    client = client_as(world.users["annotator"])
    base = url(world, inst)
    r = client.get(f"{base}/rendered")
    image = np.asarray(Image.open(io.BytesIO(r.content)).convert("RGB")).astype(np.int32)
    assert image.shape == pixels.shape
    assert np.abs(image - pixels).mean() <= (6 if lossy else 0)
    if not lossy:
        (raw,) = get_frames(client, base, "1")
        assert np.array_equal(np.frombuffer(raw, np.uint8).reshape(pixels.shape), pixels)
    r = client.get(base, HTTP_ACCEPT='multipart/related; type="application/dicom"; transfer-syntax=*')
    ((_, stored),) = parts(r)
    assert stored == data
    ((_, default),) = parts(client.get(base))
    ds = pydicom.dcmread(io.BytesIO(default))
    assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian and ds.pixel_array.shape == pixels.shape


def test_compressed_frames_in_the_stored_syntax_when_asked(world):
    pixels = gray16()
    data = compressed(JPEGLSLossless)(dataset(pixels))
    inst = ingest(world, data)
    r = client_as(world.users["annotator"]).get(f"{url(world, inst)}/frames/1", HTTP_ACCEPT=(
        f'multipart/related; type="image/jls"; transfer-syntax={JPEGLSLossless}'))
    ((headers, codestream),) = parts(r)
    assert headers["Content-Type"].startswith("image/jls")
    assert codestream.startswith(b"\xff\xd8")  # a JPEG-LS codestream, not decoded pixels
    stored = pydicom.dcmread(io.BytesIO(data))
    from pydicom.encaps import generate_frames

    assert codestream == next(generate_frames(stored.PixelData, number_of_frames=1))
