"""The upload page in a real browser (headless Debian Chromium, Playwright sync API) against
pytest-django's live_server: an annotator logs in, picks two DICOM files and one text file, and
sees a progress bar per file and a summary — two stored, one refused with its rule and reason."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import ARTIFACTS
from tests.factories import PASSWORD
from webapp.imaging.models import Instance, QuarantinedFile

from .conftest import read

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Playwright's sync API runs an event loop on the test thread; the ORM calls stay synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
CHROMIUM = os.environ.get("NODUS_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update"]


def test_upload_page_shows_progress_per_file_and_a_summary_with_reasons(live_server, world, phantom_series,
                                                                        tmp_path: Path):
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    dicoms = phantom_series(slices=2, patient_id="UPL-1")
    notes = tmp_path / "notes.txt"
    notes.write_text("these are not DICOM\n" * 20)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page()
        try:
            page.goto(f"{live_server.url}/accounts/login/?next=/upload/")
            page.fill("input[name=username]", world.users["annotator"].username)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{live_server.url}/upload/")
            page.select_option("#upload-project", world["project"].slug)
            page.set_input_files("#upload-files", [str(dicoms[0]), str(dicoms[1]), str(notes)])
            page.click("#upload-form button[type=submit]")
            summary = page.locator("#upload-summary")
            sync_api.expect(summary).to_have_text("Done: 2 stored, 0 already present, 1 refused.", timeout=60_000)

            rows = page.locator("#upload-rows tr")
            sync_api.expect(rows).to_have_count(3)
            by_name = {rows.nth(i).locator("td").nth(0).inner_text(): rows.nth(i) for i in range(3)}
            assert set(by_name) == {dicoms[0].name, dicoms[1].name, "notes.txt"}
            for row in by_name.values():  # one progress bar per file, complete
                assert row.locator("progress").evaluate("el => el.value") == 100
            assert by_name[dicoms[0].name].locator("td").nth(2).inner_text() == "stored"
            assert by_name[dicoms[1].name].locator("td").nth(2).inner_text() == "stored"
            refused = by_name["notes.txt"].locator("td").nth(2).inner_text()
            assert refused.startswith("notes.txt: refused [not_dicom]") and "not a DICOM" in refused
        except Exception:
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "upload-browser.png"))
            raise
        finally:
            browser.close()

    # What the page said is what the server did.
    uids = {read(path).SOPInstanceUID for path in dicoms}
    assert set(Instance.objects.filter(sop_instance_uid__in=uids).values_list("sop_instance_uid", flat=True)) == uids
    q = QuarantinedFile.objects.get(filename="notes.txt")
    assert q.rule == "not_dicom" and q.uploaded_by == world.users["annotator"] and q.source == "upload"
