"""Browser tests: Playwright's sync API driving Debian's Chromium (headless, SwiftShader WebGL)
against pytest-django's live server. Series are tiny (64×64×20): SwiftShader renders slowly."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ARTIFACTS, ROOT

# Playwright's sync API keeps an event loop on the test thread; Django's ORM calls in the tests
# (fixtures, assertions) are still plain synchronous calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
CHROMIUM = os.environ.get("NODUS_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"]
BUNDLE = ROOT / "webapp" / "static" / "viewer" / "viewer.js"
PASSWORD = "test-password-123"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not BUNDLE.exists():
        pytest.fail(f"{BUNDLE} is missing: build the viewer first (make frontend)")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def ingest_phantom(*, project: Any, size: int = 64, slices: int = 20, seed: int = 3) -> Any:
    """A small synthetic chest CT ingested through the real ingest service; returns its Series."""
    from training.phantoms import chest_ct, write_dicom_series
    from webapp.imaging.models import Series
    from webapp.imaging.services import IncomingFile, ingest_files

    ph = chest_ct(seed, size=size, slices=slices, n_lesions=1, min_diameter_mm=8, max_diameter_mm=12)
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_dicom_series(ph, Path(tmp), patient_id=f"E2E{seed}", patient_name="Test^<b>Patient</b>",
                                   series_description="E2E axial")
        files = [IncomingFile(name=p.name, data=p.read_bytes()) for p in paths]
    report = ingest_files(project=project, files=files, actor=None, source="cli")
    assert report.count("refused") == 0, report.refused
    return Series.objects.get(series_instance_uid=report.results[0].series_instance_uid)


@pytest.fixture
def viewer_task(transactional_db: None, live_server: Any) -> dict[str, Any]:
    from tests.factories import MembershipFactory, ProjectFactory, TaskFactory, UserFactory
    from webapp.accounts.models import Role
    from webapp.labeling.schema import LUNG_NODULE_SCHEMA

    project = ProjectFactory(slug="e2e", label_schema=LUNG_NODULE_SCHEMA)
    user = UserFactory(username="anna")
    MembershipFactory(user=user, project=project, role=Role.ANNOTATOR)
    series = ingest_phantom(project=project)
    task = TaskFactory(series=series, project=project, assignee=user)
    return {"task": task, "user": user, "url": live_server.url, "series": series}


def login(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def watch(page: Any) -> list[str]:
    """Collect the page's console errors and uncaught exceptions (shown when a wait fails)."""
    logs: list[str] = []
    page.on("console", lambda m: logs.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: logs.append(f"pageerror: {e}"))
    page._nodus_logs = logs
    return logs


def wait_loaded(page: Any) -> None:
    try:
        page.wait_for_selector("#viewer-app[data-loaded=all]", timeout=60_000)
    except Exception as exc:
        logs = getattr(page, "_nodus_logs", [])
        state = page.locator("#viewer-app").get_attribute("data-state")
        text = page.locator("#progress-text").inner_text()
        raise AssertionError(f"viewer not loaded (state={state}, {text}): {logs[:10]} … {logs[-5:]}") from exc
    page.wait_for_timeout(300)


def open_viewer(page: Any, base: str, task_id: int) -> None:
    if not hasattr(page, "_nodus_logs"):
        watch(page)
    page.goto(f"{base}/tasks/{task_id}/")
    wait_loaded(page)


def viewport_pixels(page: Any) -> Any:
    import io

    import numpy as np
    from PIL import Image

    png = page.locator("#vp-stack canvas").first.screenshot()
    return np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.int16)


def artifact(name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name
