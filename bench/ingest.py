"""Ingest and DICOMweb on a 300-slice 512x512 phantom CT: import_dicom and STOW-RS instances/s with
peak RSS, WADO-RS whole-series retrieval, series pixeldata + metadata, QIDO p95 over 10,000 studies.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/nodus_bench .venv/bin/python bench/ingest.py

Uses its own database (created and migrated if missing), storage under a temp dir, and a daphne
server on a free port. Prints one table.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
# Deletes a patient's studies and their stored files, so a repeated STOW stores everything again.
FORGET = (
    "import sys, django; django.setup(); from webapp.core.storage import get_storage;"
    "from webapp.imaging.models import Instance, Study; storage = get_storage();"
    "keys = list(Instance.objects.filter(series__study__patient__patient_id=sys.argv[1])"
    ".values_list('storage_key', flat=True)); [storage.delete(k) for k in keys];"
    "Study.objects.filter(patient__patient_id=sys.argv[1]).delete()"
)
PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sh(args: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    subprocess.run(args, cwd=ROOT, env=env, check=True)
    return time.perf_counter() - t


def make_series(out: Path, seed: int) -> list[Path]:
    """The phantom series for `seed`, generated once and reused (cached under the temp dir)."""
    files = sorted(out.glob("*.dcm"))
    if len(files) == 300:
        return files
    code = (
        "import sys; from pathlib import Path; from training.phantoms import chest_ct, write_dicom_series;"
        f"ph = chest_ct({seed}, size=512, slices=300);"
        f"write_dicom_series(ph, Path({str(out)!r}), patient_id='BENCH-{seed}', patient_name='Bench^{seed}')"
    )
    subprocess.run([PY, "-c", code], cwd=ROOT, check=True)
    return sorted(out.glob("*.dcm"))


def import_dicom_row(cli_dir: Path, n: int, env: dict[str, str]) -> tuple[str, str]:
    t = time.perf_counter()
    out = subprocess.run(["/usr/bin/time", "-f", "maxrss_kb=%M", PY, "manage.py", "import_dicom", str(cli_dir),
                          "--project", "bench", "--no-progress"], cwd=ROOT, env=env, check=True, capture_output=True,
                         text=True)
    t_cli = time.perf_counter() - t
    inner = re.search(r"files in ([0-9.]+)s \(([0-9]+)/s\)", out.stdout)
    rss = re.search(r"maxrss_kb=([0-9]+)", out.stderr)
    return ("import_dicom 300x512x512 CT", f"{inner.group(2) if inner else '?'} instances/s in the command "
            f"({inner.group(1) if inner else '?'} s); {n / t_cli:.0f}/s incl. process startup ({t_cli:.2f} s); "
            f"peak RSS {int(rss.group(1)) / 1024 if rss else 0:.0f} MB")


def retrieve_and_search(base: str, auth: dict[str, str], n: int, env: dict[str, str], n_studies: int,
                        ) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    studies = requests.get(base + "/projects/bench/dicomweb/studies?PatientID=BENCH-302", headers=auth,
                           timeout=30).json()
    st = studies[0]["0020000D"]["Value"][0]
    se = requests.get(f"{base}/dicomweb/studies/{st}/series", headers=auth, timeout=30).json()[0]["0020000E"][
        "Value"][0]
    url = f"{base}/dicomweb/studies/{st}/series/{se}"
    first = requests.get(f"{url}/instances?limit=1", headers=auth, timeout=30).json()[0]["00080018"]["Value"][0]
    requests.get(f"{url}/instances/{first}", headers=auth, timeout=60)  # warm-up
    for label, headers in [("WADO-RS series, stored bytes (transfer-syntax=*)",
                            {"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'}),
                           ("WADO-RS series, default (Explicit VR LE)", {})]:
        t = time.perf_counter()
        r = requests.get(url, headers={**auth, **headers}, timeout=600)
        dt = time.perf_counter() - t
        rows.append((label, f"{n / dt:.0f} instances/s ({dt:.2f} s, {len(r.content) / 2**20:.0f} MB)"))
    t = time.perf_counter()
    r = requests.get(url + "/metadata", headers={**auth, "Accept-Encoding": "gzip"}, timeout=60)
    dt = time.perf_counter() - t
    rows.append(("series metadata (gzip)", f"{dt * 1000:.0f} ms, {len(r.content) / 1024:.0f} kB JSON"))
    inst = r.json()[150]["00080018"]["Value"][0]
    t = time.perf_counter()
    requests.get(f"{url}/instances/{inst}/frames/1", headers=auth, timeout=60)
    rows.append(("first frame (frames/1)", f"{(time.perf_counter() - t) * 1000:.0f} ms"))
    for label, enc in [("series pixeldata, one request (identity)", {"Accept-Encoding": "identity"}),
                       ("series pixeldata, gzip", {"Accept-Encoding": "gzip"})]:
        t = time.perf_counter()
        r = requests.get(url + "/pixeldata", headers={**auth, **enc}, timeout=600, stream=True)
        size = sum(len(c) for c in r.raw.stream(1 << 20, decode_content=False))
        dt = time.perf_counter() - t
        rows.append((label, f"{dt:.2f} s ({n / dt:.0f} frames/s, {size / 2**20:.0f} MB on the wire)"))

    # QIDO over many studies.
    seed = (
        "import django; django.setup(); import datetime, random;"
        "from webapp.imaging.models import Patient, Study; from webapp.labeling.models import Project;"
        "p = Project.objects.get(slug='qido'); rnd = random.Random(1);"
        f"pats = Patient.objects.bulk_create([Patient(project=p, patient_id=f'Q{{i:06d}}', name=f'Name^{{i}}')"
        f" for i in range({n_studies})]);"
        "Study.objects.bulk_create([Study(project=p, patient=pt, study_instance_uid=f'1.2.3.{i}',"
        " study_date=datetime.date(2015, 1, 1) + datetime.timedelta(days=rnd.randrange(3650)),"
        " accession_number=f'A{i:07d}', modalities=rnd.choice(['CT', 'MR', 'CR']), num_series=1,"
        " num_instances=100) for i, pt in enumerate(pats)], batch_size=2000);"
        # Planner statistics, as autovacuum would have gathered on a real catalog.
        "from django.db import connection; connection.cursor().execute('ANALYZE')"
    )
    subprocess.run([PY, "-c", seed], cwd=ROOT, env=env, check=True)
    queries = ["", "?limit=100", "?PatientID=Q0042*", "?PatientName=name^1234*",
               "?StudyDate=20180101-20181231&limit=50", "?AccessionNumber=A0005000",
               "?ModalitiesInStudy=CT&limit=100", "?limit=25&offset=5000"]
    times = []
    for i in range(200):
        q = queries[i % len(queries)]
        t = time.perf_counter()
        r = requests.get(base + "/projects/qido/dicomweb/studies" + q, headers=auth, timeout=60)
        times.append(time.perf_counter() - t)
        assert r.status_code == 200
    times.sort()
    p95 = times[int(0.95 * len(times))]
    rows.append((f"QIDO studies over {n_studies} (mixed filters, limit ≤ 1000)",
                 f"p50 {statistics.median(times) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms"))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--studies", type=int, default=10_000)
    ap.add_argument("--only", choices=["all", "stow"], default="all",
                    help="stow: only the STOW-RS rows (no import_dicom, WADO, QIDO), for quick A/B runs")
    ap.add_argument("--repeat", type=int, default=1,
                    help="STOW the series this many times against the same warm server (the study, its rows "
                         "and stored files are deleted between runs, so each run does the full work)")
    ap.add_argument("--server-tmpdir", help="TMPDIR of the daphne server (where request bodies are spooled), "
                                            "e.g. /dev/shm")
    args = ap.parse_args()
    db = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/nodus_bench")
    tmp = Path(tempfile.mkdtemp(prefix="nodus-bench-"))
    env = dict(os.environ, DATABASE_URL=db, NODUS_STORAGE=str(tmp / "storage"), NODUS_DEMO="1",
               DJANGO_SETTINGS_MODULE="webapp.config.settings", LOG_LEVEL="WARNING")
    # A deployed venv has .pyc files (pip compiles them); without them every fresh process compiles
    # pydicom's 1 MB data dictionary again (≈ 1 s of the command's startup).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    name = db.rsplit("/", 1)[1]
    subprocess.run(["psql", db.rsplit("/", 1)[0] + "/postgres", "-qc", f"drop database if exists {name}"], check=True)
    subprocess.run(["psql", db.rsplit("/", 1)[0] + "/postgres", "-qc", f"create database {name}"], check=True)
    sh([PY, "manage.py", "migrate", "-v", "0"], env)
    setup = (
        "import django; django.setup();"
        "from django.contrib.auth import get_user_model; from rest_framework.authtoken.models import Token;"
        "from webapp.labeling.models import Project;"
        "u = get_user_model().objects.create_superuser('bench', 'b@x.invalid', 'bench-pass-123');"
        "Project.objects.create(slug='bench', name='Bench'); Project.objects.create(slug='qido', name='QIDO');"
        "print(Token.objects.create(user=u).key)"
    )
    token = subprocess.run([PY, "-c", setup], cwd=ROOT, env=env, check=True, capture_output=True,
                           text=True).stdout.strip()
    cache = Path(tempfile.gettempdir())
    cli_dir, stow_dir = cache / "nodus-bench-series-301", cache / "nodus-bench-series-302"
    cli_files = make_series(cli_dir, 301)
    stow_files = make_series(stow_dir, 302)
    n = len(cli_files)
    rows: list[tuple[str, str]] = []

    # import_dicom: a fresh process; the rate inside the command (its own summary line) and with startup.
    if args.only == "all":
        rows.append(import_dicom_row(cli_dir, n, env))

    port = free_port()
    server_env = dict(env, TMPDIR=args.server_tmpdir) if args.server_tmpdir else env
    server = subprocess.Popen([PY, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
                               "webapp.config.asgi:application"], cwd=ROOT, env=server_env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Token {token}"}
    try:
        for _ in range(100):
            try:
                requests.get(base + "/healthz", timeout=5)
                break
            except requests.RequestException:
                time.sleep(0.2)
        import psutil

        proc = psutil.Process(server.pid)
        boundary = uuid.uuid4().hex

        def stow(files: list[Path]) -> requests.Response:
            def body():  # streamed: the client never holds the whole series
                for p in files:
                    yield (f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + p.read_bytes()
                           + b"\r\n")
                yield f"--{boundary}--\r\n".encode()

            return requests.post(base + "/projects/bench/dicomweb/studies", data=body(), headers={
                **auth, "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}'},
                timeout=600)

        # Warm-up, as on a server that has been up a while: one STOW (100 new instances of a study
        # of their own), one QIDO, one WADO — first-use imports, code paths and heap growth are not
        # measured.
        warm = tmp / "warm-up"
        subprocess.run([PY, "-c", "import sys, pathlib, pydicom; from pydicom.uid import generate_uid;"
                        "st, se = generate_uid(), generate_uid(); out = pathlib.Path(sys.argv[1]); out.mkdir();"
                        "[(ds := pydicom.dcmread(f), setattr(ds, 'StudyInstanceUID', st),"
                        " setattr(ds, 'SeriesInstanceUID', se), setattr(ds, 'SOPInstanceUID', generate_uid()),"
                        " setattr(ds.file_meta, 'MediaStorageSOPInstanceUID', ds.SOPInstanceUID),"
                        " setattr(ds, 'PatientID', 'WARM'), ds.save_as(out / f'{i}.dcm', enforce_file_format=True))"
                        " for i, f in enumerate(sys.argv[2:])]", str(warm), *map(str, cli_files[:100])],
                       check=True)
        assert stow(sorted(warm.glob("*.dcm"))).status_code == 200
        requests.get(base + "/projects/bench/dicomweb/studies?limit=1", headers=auth, timeout=30)
        for run in range(args.repeat):
            if run:  # the same files again as new: no rows, no stored files (full work each run)
                subprocess.run([PY, "-c", FORGET, "BENCH-302"], cwd=ROOT, env=env, check=True)
            rss0 = proc.memory_info().rss
            cpu0 = sum(proc.cpu_times()[:2])
            t = time.perf_counter()
            r = stow(stow_files)
            t_stow = time.perf_counter() - t
            cpu = sum(proc.cpu_times()[:2]) - cpu0
            assert r.status_code == 200, r.text[:500]
            rows.append(("STOW-RS 300x512x512 CT (one request)" + (f", run {run + 1}" if args.repeat > 1 else ""),
                         f"{n / t_stow:.0f} instances/s ({t_stow:.2f} s; server CPU {cpu:.2f} s = "
                         f"{cpu / n * 1000:.1f} ms/instance), server RSS {rss0 / 2**20:.0f} → "
                         f"{proc.memory_info().rss / 2**20:.0f} MB"))
        if args.only == "all":
            rows += retrieve_and_search(base, auth, n, env, args.studies)
    finally:
        server.terminate()
        server.wait(10)

    cpu = platform.processor() or platform.machine()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nNodus ingest + DICOMweb — {platform.node()}, {os.cpu_count()} cores ({cpu}), Python "
          f"{platform.python_version()}, daphne (ASGI), PostgreSQL; load average at the end {load}"
          f"{'; server TMPDIR ' + args.server_tmpdir if args.server_tmpdir else ''}\n")
    width = max(len(k) for k, _ in rows)
    print(f"| {'what':<{width}} | result |\n|{'-' * (width + 2)}|--------|")
    for k, v in rows:
        print(f"| {k:<{width}} | {v} |")


if __name__ == "__main__":
    main()
