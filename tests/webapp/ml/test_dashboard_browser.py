"""Dashboard in a real browser: a project admin starts a training run from `/dashboard/` and the
loss curve grows live (websocket events from a real Celery worker through daphne), no reload.

Daphne serves the ASGI application (HTTP + websockets) on a free port against the test database;
pytest-django's live_server is WSGI-only."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ARTIFACTS, ROOT
from tests.conftest import test_database_url as database_url
from tests.factories import PASSWORD
from tests.webapp.ml.helpers import accepted_phantom_task, register_bundle

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# Playwright's sync API keeps an event loop on the test thread; the ORM calls stay synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
CHROMIUM = os.environ.get("NODUS_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update"]
# Tiny but long enough to watch: one crop of 16³ per iteration, validation every epoch.
TRAINING = {"batch_size": 1, "roi_size": [16, 16, 16], "num_samples": 1, "val_fraction": 0.5, "lr": 0.01,
            "phantoms": 2, "phantom_size": 48, "phantom_slices": 16, "heldout": {"n": 1, "size": 48, "slices": 16}}
EPOCHS = 25


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def subprocesses_gone(transactional_db: None) -> Iterator[None]:
    """Set up first, torn down last: waits until the worker's and daphne's database sessions have
    closed, so the test database can be dropped at the end of the session."""
    from django.db import connection

    yield
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with connection.cursor() as cur:
            cur.execute("select count(*) from pg_stat_activity where datname = current_database() "
                        "and pid <> pg_backend_pid()")
            if cur.fetchone()[0] == 0:
                return
        time.sleep(0.2)


@pytest.fixture
def asgi_server(transactional_db: None) -> Iterator[str]:
    """daphne on a free port, bound to the test database, Redis and storage of this session."""
    port = free_port()
    ARTIFACTS.mkdir(exist_ok=True)
    log = ARTIFACTS / "daphne-dashboard.log"
    env = dict(os.environ, DATABASE_URL=database_url(), DJANGO_SETTINGS_MODULE="webapp.config.test_settings",
               PYTHONUNBUFFERED="1")
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
                                 "webapp.config.asgi:application"], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"daphne exited early:\n{log.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()  # listens once the app is loaded
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"daphne did not answer within 60 s:\n{log.read_text()}") from None
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def page() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 1500})
            logs: list[str] = []
            page.on("console", lambda m: logs.append(f"{m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: logs.append(f"pageerror: {e}"))
            page.nodus_logs = logs
            yield page
        finally:
            browser.close()


CURVE_JS = """() => {
  const loss = document.querySelector('#loss-chart path[data-series="loss"]');
  const row = document.querySelector('#runs tr[data-run]');
  return {
    sentinel: window.__sameDocument === true,
    points: loss ? Number(loss.getAttribute("data-points")) : 0,
    length: loss ? loss.getTotalLength() : 0,
    run: row ? Number(row.dataset.run) : null,
    state: row ? row.dataset.state : null,
    live: document.getElementById("ws-state").textContent,
  };
}"""


@pytest.fixture
def trainable(world: Any) -> Any:
    """A trainable tiny base version and one accepted phantom task. Built before the browser
    starts: Playwright's event loop on this thread would give the ORM a second connection."""
    base = register_bundle(project=world["project"], constant=False)
    accepted_phantom_task(world=world)
    return base


def get_run(page: Any, url: str) -> dict[str, Any]:
    """The project's only run, read over REST with the browser's session (no ORM under Playwright)."""
    r = page.request.get(f"{url}/api/v1/training-runs/")  # the padmin administers one project
    assert r.ok, r.text()
    results = r.json()["results"]
    assert len(results) == 1, results
    detail = page.request.get(f"{url}/api/v1/training-runs/{results[0]['id']}/")
    assert detail.ok, detail.text()
    return dict(detail.json())


@pytest.mark.timeout(150)
def test_training_curve_grows_live_on_the_dashboard(subprocesses_gone: None, world: Any, trainable: Any,
                                                    celery_worker_process: Any, asgi_server: str, page: Any) -> None:
    from playwright.sync_api import expect

    t0 = time.monotonic()
    page.goto(f"{asgi_server}/accounts/login/")
    page.fill("input[name=username]", world.users["project_admin"].username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
    page.goto(f"{asgi_server}/dashboard/?project=demo")
    expect(page.locator("#ws-state")).to_have_text("live", timeout=15_000)
    assert page.locator("#versions tr[data-version]").count() == 1
    assert page.locator("#runs tr[data-run]").count() == 0

    # A marker on this document: a reload would drop it.
    page.evaluate("() => { window.__sameDocument = true; }")
    page.fill("#train-form input[name=max_epochs]", str(EPOCHS))
    page.fill("#train-form input[name=max_minutes]", "2")
    page.click("#train-form summary")
    page.fill("#train-form textarea[name=advanced]", json.dumps(TRAINING))
    page.click("#train-form button[type=submit]")

    samples: list[dict[str, Any]] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        s = page.evaluate(CURVE_JS)
        samples.append(s)
        if s["state"] in ("succeeded", "failed", "cancelled") or not s["sentinel"]:
            break
        if len({x["points"] for x in samples if x["points"]}) >= 4:
            break
        page.wait_for_timeout(100)
    growing = [s for s in samples if s["sentinel"] and s["points"]]
    run = get_run(page, asgi_server)
    assert growing, (samples[-5:], page.nodus_logs, run["state"], run.get("error"))
    assert all(s["run"] == run["id"] for s in growing), samples[-3:]
    points = [s["points"] for s in growing]
    assert points == sorted(points) and len(set(points)) >= 3, points
    lengths = [s["length"] for s in growing]
    assert lengths[-1] > lengths[0], lengths
    assert all(s["state"] in ("queued", "running") for s in growing), [s["state"] for s in growing]

    # The run finishes; the page follows (the finished event reloads it) and draws the whole curve.
    finish = time.monotonic() + 60
    while time.monotonic() < finish and run["state"] not in ("succeeded", "failed", "cancelled"):
        page.wait_for_timeout(300)
        run = get_run(page, asgi_server)
    assert run["state"] == "succeeded", (run["state"], run.get("error"), celery_worker_process.output()[-2000:])
    assert run["base_version"] == trainable.pk and run["result_version"] is not None
    expect(page.locator(f'#runs tr[data-run="{run["id"]}"]')).to_have_attribute("data-state", "succeeded",
                                                                               timeout=15_000)
    history = run["history"]
    expect(page.locator('#loss-chart path[data-series="loss"]')).to_have_attribute("data-points", str(len(history)),
                                                                                   timeout=15_000)
    validations = sum(1 for h in history if h.get("val_dice") is not None)
    assert validations >= 1
    assert page.locator('#loss-chart path[data-series="val dice"]').get_attribute("data-points") == str(validations)
    assert page.locator("#versions tr[data-version]").count() == 2
    assert not [m for m in page.nodus_logs if "pageerror" in m], page.nodus_logs

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    if os.environ.get("NODUS_UPDATE_DOCS"):
        shutil.copyfile(shot, ROOT / "docs" / "dashboard.png")
    assert time.monotonic() - t0 < 90
