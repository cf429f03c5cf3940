"""AI loop benchmark: progress-event latency worker → web process, and STOW-RS → AI suggestions.

    DATABASE_URL=... REDIS_URL=redis://127.0.0.1:6379/0 .venv/bin/python bench/loop.py [--events 300]
    # STOW → suggestions needs a running `make run` (web + worker with the starter model):
    ... bench/loop.py --url http://127.0.0.1:8000 --token <key> --project demo-lung --size 512 --slices 300

Latency: a separate process publishes job progress events exactly as the gpu worker does
(`webapp.realtime.publish`: Redis INCR for `seq`, channels-redis group_send); this process receives
them on a channel subscribed to the topic, as the websocket consumer does, and measures
receive time − event `at`. Prints one table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.config.settings")
os.environ.setdefault("NODUS_DEMO", "1")

PUBLISHER = """
import sys, time, django
django.setup()
from webapp.realtime.publish import publish
n, topic = int(sys.argv[1]), sys.argv[2]
time.sleep(0.5)
for i in range(n):
    publish(topic, "job.progress", {"job": 0, "progress": i / n, "stage": "inference"})
    time.sleep(0.01)
"""


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


async def latency(n: int) -> list[float]:
    import django

    django.setup()
    from channels.layers import get_channel_layer

    from webapp.realtime.topics import group_name

    layer = get_channel_layer()
    assert layer is not None
    topic = f"job.{int(time.time())}"
    channel = await layer.new_channel()
    await layer.group_add(group_name(topic), channel)
    proc = subprocess.Popen([sys.executable, "-c", PUBLISHER, str(n), topic], cwd=ROOT, env=os.environ.copy())
    out: list[float] = []
    try:
        while len(out) < n:
            msg = await asyncio.wait_for(layer.receive(channel), timeout=30)
            now = time.time()
            sent = datetime.fromisoformat(msg["event"]["at"]).timestamp()
            out.append((now - sent) * 1000)
    finally:
        proc.wait(30)
        await layer.group_discard(group_name(topic), channel)
    return out


def stow_to_suggestions(
    url: str, token: str, project: str, size: int, slices: int
) -> tuple[float, list[tuple[str, float]]]:
    import requests

    from training.phantoms import chest_ct, write_dicom_series

    ph = chest_ct(4242, size=size, slices=slices)
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_dicom_series(ph, Path(tmp), patient_id=f"BENCH{int(time.time())}", patient_name="Bench^Loop")
        boundary = "nodus-bench-boundary"
        body = b"".join(b"--" + boundary.encode() + b"\r\nContent-Type: application/dicom\r\n\r\n" + p.read_bytes()
                        + b"\r\n" for p in paths) + b"--" + boundary.encode() + b"--\r\n"
        headers = {"Authorization": f"Token {token}",
                   "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}'}
        t0, wall0 = time.perf_counter(), time.time()
        r = requests.post(f"{url}/projects/{project}/dicomweb/studies", data=body, headers=headers, timeout=600)
        r.raise_for_status()
        stow_s = time.perf_counter() - t0
        import pydicom

        uid = pydicom.dcmread(paths[0], stop_before_pixels=True).SeriesInstanceUID
    auth = {"Authorization": f"Token {token}"}
    while time.perf_counter() - t0 < 600:
        jobs = requests.get(f"{url}/api/v1/jobs/", params={"series_instance_uid": uid}, headers=auth, timeout=30)
        results = jobs.json().get("results", [])
        if results and results[0]["state"] in ("succeeded", "failed"):
            if results[0]["state"] == "failed":
                raise SystemExit(f"job failed: {results[0]['error']}")
            found = requests.get(f"{url}/api/v1/findings/", params={"series_instance_uid": uid, "source": "ai"},
                                 headers=auth, timeout=30)
            found.raise_for_status()
            total = time.perf_counter() - t0
            return total, breakdown(url, auth, results[0], wall0, stow_s, total)
        time.sleep(0.25)
    raise SystemExit("no suggestions within 600 s")


def breakdown(url: str, auth: dict[str, str], job: dict[str, object], wall0: float, stow_s: float,
              total: float) -> list[tuple[str, float]]:
    """Where the time went: the STOW request, the job's wait in the queue, the worker's stages
    (from the job.finish audit row), and what is left (publishing, polling)."""
    import requests

    def ts(v: object) -> float:
        return datetime.fromisoformat(str(v).replace("Z", "+00:00")).timestamp()

    rows: list[tuple[str, float]] = [("STOW-RS request (ingest, job enqueued on commit)", stow_s)]
    created, started, finished = ts(job["created"]), ts(job["started"]), ts(job["finished"])
    rows.append(("job queued → started", started - created))
    audit = requests.get(f"{url}/api/v1/audit/", params={"action": "job.finish", "target_id": job["id"]},
                         headers=auth, timeout=30).json().get("results", [])
    timings = next((a["data"].get("timings") or {} for a in audit if a["target_type"] == "ml.inferencejob"), {})
    stages = ["load_model", "settle_wait", "read_series", "inference"]
    for k in stages:
        rows.append((f"worker: {k.replace('_', ' ')}", float(timings.get(k, 0.0))))
        if k == "inference":
            subs = sorted((kv for kv in timings.items() if kv[0].startswith("inference.")), key=lambda kv: -kv[1])
            rows += [(f"  inference: {sub.split('.', 1)[1].replace('_', ' ')}", float(v)) for sub, v in subs]
    worker = finished - started
    saving = worker - sum(float(timings.get(k, 0)) for k in stages)
    rows.append(("worker: saving (label, findings, commit, events)", saving))
    rows.append(("worker total (started → finished)", worker))
    rows.append(("finished → seen by the client", (wall0 + total) - finished))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=300)
    ap.add_argument("--url")
    ap.add_argument("--token")
    ap.add_argument("--project", default="demo-lung")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--slices", type=int, default=300)
    args = ap.parse_args()
    lat = asyncio.run(latency(args.events))
    rows = [("progress event worker → web (ms)", f"{statistics.median(lat):.1f}", f"{pct(lat, 95):.1f}",
             f"{max(lat):.1f}", "p95 < 250")]
    stages: list[tuple[str, float]] = []
    if args.url and args.token:
        s, stages = stow_to_suggestions(args.url, args.token, args.project, args.size, args.slices)
        rows.append((f"STOW {args.size}x{args.size}x{args.slices} → suggestions (s)", f"{s:.1f}", "", "", "< 60"))
    print("| measure | p50 | p95 | max | bar |\n|---|---:|---:|---:|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    if stages:
        print("\n| STOW → suggestions, stage | s |\n|---|---:|")
        for name, sec in stages:
            print(f"| {name} | {sec:.2f} |")
    print(json.dumps({"events": len(lat)}))


if __name__ == "__main__":
    main()
