"""A local Orthanc (Debian's `orthanc` package) ingesting the same 300-slice 512x512 CT that
`bench/ingest.py` sends to Nodus: the design's "ingest >= a local Orthanc on the same files" bar.

    apt-get install -y orthanc   # not a project dependency: only this benchmark uses it
    .venv/bin/python bench/orthanc.py [--repeat 3]

Orthanc runs with a throwaway configuration (SQLite index and storage under a temp directory,
no compression, loopback only). Two ways in: one REST `POST /instances` per file over one
keep-alive connection (what a PACS push or a script does), and the whole series as one ZIP in a
single `POST /instances` (Orthanc's bulk path, the closest to one STOW-RS request). Run
`bench/ingest.py --only stow` right after for the Nodus side in the same window.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

from bench.table import print_table  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_orthanc(work: Path) -> tuple[subprocess.Popen[bytes], int]:
    binary = shutil.which("Orthanc") or "/usr/sbin/Orthanc"
    if not Path(binary).exists():
        sys.exit("Orthanc is not installed: apt-get install -y orthanc")
    port = free_port()
    config = {
        "Name": "nodus-bench", "StorageDirectory": str(work / "storage"),
        "IndexDirectory": str(work / "index"), "HttpPort": port, "DicomPort": free_port(),
        "RemoteAccessAllowed": False, "AuthenticationEnabled": False,
        "StorageCompression": False, "Plugins": [],
    }
    (work / "orthanc.json").write_text(json.dumps(config))
    proc = subprocess.Popen([binary, str(work / "orthanc.json")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/system")
            if c.getresponse().status == 200:
                return proc, port
        except OSError:
            time.sleep(0.2)
    proc.kill()
    sys.exit("Orthanc did not start in 30 s")


def request(conn: http.client.HTTPConnection, method: str, path: str, body: bytes = b"",
            ctype: str = "application/dicom") -> bytes:
    conn.request(method, path, body=body, headers={"Content-Type": ctype} if body else {})
    resp = conn.getresponse()
    data = resp.read()
    if resp.status >= 300:
        raise RuntimeError(f"{method} {path}: HTTP {resp.status} {data[:200]!r}")
    return data


def clear(conn: http.client.HTTPConnection) -> None:
    for patient in json.loads(request(conn, "GET", "/patients")):
        request(conn, "DELETE", f"/patients/{patient}")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3, help="runs of each way in; best kept")
    args = ap.parse_args()
    from training.phantoms import chest_ct, write_dicom_series

    with tempfile.TemporaryDirectory(prefix="nodus-orthanc-") as tmp:
        work = Path(tmp)
        files = write_dicom_series(chest_ct(1, size=512, slices=300), work / "dicom",
                                   patient_id="BENCH-1", patient_name="Bench^1")
        blobs = [Path(f).read_bytes() for f in files]
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
            for i, b in enumerate(blobs):
                z.writestr(f"{i:04d}.dcm", b)
        archive = buf.getvalue()
        proc, port = start_orthanc(work)
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            per_file, zipped = [], []
            for _ in range(args.repeat):
                clear(conn)
                cpu0, t = cpu_seconds(proc.pid), time.perf_counter()
                for b in blobs:
                    request(conn, "POST", "/instances", b)
                per_file.append((time.perf_counter() - t, cpu_seconds(proc.pid) - cpu0))
                clear(conn)
                cpu0, t = cpu_seconds(proc.pid), time.perf_counter()
                request(conn, "POST", "/instances", archive, "application/zip")
                zipped.append((time.perf_counter() - t, cpu_seconds(proc.pid) - cpu0))
            stored = len(json.loads(request(conn, "GET", "/instances")))
            version = json.loads(request(conn, "GET", "/system")).get("Version", "?")
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    n = len(blobs)
    best_file, best_zip = min(per_file), min(zipped)
    print_table([
        ("Orthanc", f"{version} (Debian package, SQLite index, no compression)"),
        ("machine", f"{os.cpu_count()} cores, load average at end {os.getloadavg()[0]:.1f}"),
        ("series", f"{n} files, 512x512 CT, {sum(map(len, blobs)) / 1e6:.0f} MB"),
        ("POST /instances per file (keep-alive)",
         f"{n / best_file[0]:.0f} instances/s ({best_file[0]:.2f} s, server CPU {best_file[1]:.2f} s)"),
        ("POST /instances one ZIP",
         f"{n / best_zip[0]:.0f} instances/s ({best_zip[0]:.2f} s, server CPU {best_zip[1]:.2f} s)"),
        ("instances stored after the last run", str(stored)),
    ])


if __name__ == "__main__":
    main()
