"""Viewer on localhost: a 512×512×300 synthetic chest CT opened in headless Chromium.

Measures time to the first image and to the whole series (from navigation start, Performance
marks set by the viewer), a label save round trip (encode + POST + server decode/validate/measure/
store), and the wire size of a typical nodule mask (~10 mm sphere).

Usage: DATABASE_URL=postgres://postgres@127.0.0.1:5432/nodus_bench_viewer .venv/bin/python bench/viewer.py
(needs the built viewer: make frontend). Prints one table.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.config.test_settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/nodus_bench_viewer")
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
os.environ.setdefault("NODUS_TEST_STORAGE", "/tmp/nodus-bench-viewer")

SIZE, SLICES = 512, 300
RUNS = int(os.environ.get("NODUS_BENCH_RUNS", "3"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout: float = 60.0) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).read()  # noqa: S310 - our own http://127.0.0.1 server
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def setup_data() -> tuple[int, str]:
    from django.contrib.auth import get_user_model

    from tests.e2e.conftest import ingest_phantom
    from webapp.accounts.models import Membership, Role
    from webapp.labeling.models import Project, Task

    user_model = get_user_model()
    project, _ = Project.objects.get_or_create(slug="bench-viewer", defaults={"name": "Bench"})
    user, created = user_model.objects.get_or_create(username="bench")
    if created:
        user.set_password("bench-password-1")
        user.save()
        Membership.objects.get_or_create(user=user, project=project, role=Role.ANNOTATOR)
    task = Task.objects.filter(project=project, series__rows=SIZE).first()
    if task is None:
        series = ingest_phantom(project=project, size=SIZE, slices=SLICES, seed=11)
        task = Task.objects.create(project=project, series=series, assignee=user)
    Task.objects.filter(pk=task.pk).update(head_revision=None, state="new")
    return task.pk, "bench"


def main() -> None:
    import django

    from bench.catalog import ensure_database

    ensure_database()
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    t0 = time.perf_counter()
    task_id, username = setup_data()
    print(f"data ready in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "webapp.config.asgi:application"],
        cwd=ROOT, env={**os.environ}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    wait_http(f"{base}/accounts/login/")
    from playwright.sync_api import sync_playwright

    from tests.e2e.conftest import ARGS, CHROMIUM

    rows: list[tuple[str, float, str]] = []
    with sync_playwright() as p, tempfile.TemporaryDirectory():
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(f"{base}/accounts/login/")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", "bench-password-1")
        page.click("button[type=submit], input[type=submit]")
        page.wait_for_url(lambda url: "/accounts/login/" not in url)
        first, preview, whole = [], [], []
        stages: dict[str, list[float]] = {}
        page.goto(f"{base}/tasks/{task_id}/")  # warm-up: server imports, caches (not counted)
        page.wait_for_selector("#viewer-app[data-loaded=all]", timeout=120_000)
        for _ in range(RUNS):
            page.goto(f"{base}/tasks/{task_id}/")
            page.wait_for_selector("#viewer-app[data-loaded=all]", timeout=120_000)
            page.wait_for_timeout(200)
            marks = page.evaluate("""() => Object.fromEntries(performance.getEntriesByType('mark')
                .filter(m => m.name.startsWith('nodus:')).map(m => [m.name, m.startTime]))""")
            for name, at in marks.items():
                stages.setdefault(name.removeprefix("nodus:"), []).append(at / 1000)
            first.append(marks["nodus:first-image"] / 1000)
            preview.append(marks.get("nodus:first-preview", marks["nodus:first-image"]) / 1000)
            requests = page.evaluate("""() => performance.getEntriesByType('resource')
                .filter(e => /metadata|frames|pixeldata|viewer.js/.test(e.name))
                .map(e => [e.name.split('/').slice(-2).join('/'), e.startTime, e.responseStart, e.responseEnd])""")
            whole.append(marks["nodus:all-loaded"] / 1000)
        saves, size = [], 0
        for i in range(RUNS):
            result = page.evaluate("""async () => {
                const { viewer } = window.nodusViewer;
                const g = viewer.series.geometry;
                if (!viewer.store.get().findings.length) viewer.addFinding();
                const [sz, sy, sx] = [g.spacing[2], g.spacing[1], g.spacing[0]];
                const [cz, cy, cx] = [g.frames.length / 2, g.rows / 2 + 20, g.columns / 2 + 60];
                viewer.editLabels((d) => {
                  for (let z = 0; z < g.frames.length; z++) for (let y = 0; y < g.rows; y++) {
                    const dz = (z - cz) * sz, dy = (y - cy) * sy;
                    if (dz * dz + dy * dy > 25) continue;
                    for (let x = 0; x < g.columns; x++) {
                      const dx = (x - cx) * sx;
                      if (dz * dz + dy * dy + dx * dx <= 25) d[z * g.rows * g.columns + y * g.columns + x] = 1;
                    }
                  }
                  return true;
                });
                const t = performance.now();
                await viewer.saver.save('bench');
                const ms = performance.now() - t;
                return { ms, status: viewer.store.get().saveStatus, head: viewer.store.get().headRevision };
            }""")
            assert result["status"] == "saved", result
            saves.append(result["ms"] / 1000)
            del i
        from webapp.labeling.models import LabelRevision

        size = LabelRevision.objects.filter(task_id=task_id).order_by("-id").values_list("size", flat=True)[0]
        browser.close()
    server.terminate()
    server.wait(10)

    def med(xs: list[float]) -> float:
        return sorted(xs)[len(xs) // 2]

    rows = [
        ("first image visible (2D preview)", med(preview), "< 1 s"),
        ("first image drawn by Cornerstone3D", med(first), "< 1 s"),
        ("whole series loaded (from navigation)", med(whole), "< 5 s"),
        ("label save round trip (512x512x300)", med(saves), "< 1 s"),
    ]
    print(f"\nViewer, {SIZE}x{SIZE}x{SLICES} CT, headless Chromium (SwiftShader) on localhost, median of {RUNS}\n")
    print(f"| {'metric':<40} | {'value':>9} | bar |")
    print(f"|{'-' * 42}|{'-' * 11}|-----|")
    for name, value, bar in rows:
        print(f"| {name:<40} | {value:>7.2f} s | {bar} |")
    print(f"| {'nodule mask (10 mm sphere) on the wire':<40} | {size / 1024:>6.1f} kB | < 1 MB |")
    print("requests of the last run (start, first byte, end; s from navigation): " + "; ".join(
        f"{name[-24:]} {a / 1000:.2f} {b / 1000:.2f} {c / 1000:.2f}" for name, a, b, c in requests))
    order = sorted(stages, key=lambda k: med(stages[k]))
    print("\nstages (median s from navigation): " + ", ".join(f"{k} {med(stages[k]):.2f}" for k in order))


if __name__ == "__main__":
    main()
