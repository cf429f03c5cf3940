from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import client_as
from tests.factories import SeriesFactory, TaskFactory

pytestmark = pytest.mark.django_db


def test_task_list_filters_by_state_project_and_modality(world: Any) -> None:
    mr = TaskFactory(series=SeriesFactory(study__patient__project=world["project"], modality="MR"),
                     assignee=world.users["assignee"], state="submitted")
    client = client_as(world.users["reviewer"])
    page = client.get("/tasks/").content.decode()
    assert f'data-task="{world["task"].pk}"' in page and f'data-task="{mr.pk}"' in page
    only_mr = client.get("/tasks/?modality=mr&state=submitted&project=demo").content.decode()
    assert f'data-task="{mr.pk}"' in only_mr and f'data-task="{world["task"].pk}"' not in only_mr


def test_annotators_see_only_their_tasks(world: Any) -> None:
    page = client_as(world.users["annotator"]).get("/tasks/").content.decode()
    assert f'data-task="{world["task"].pk}"' not in page


def test_next_task_opens_the_oldest_open_task_assigned_to_me(world: Any) -> None:
    TaskFactory(series=SeriesFactory(study__patient__project=world["project"]), assignee=world.users["assignee"])
    r = client_as(world.users["assignee"]).get("/tasks/next/")
    assert r.status_code == 302 and r["Location"] == f"/tasks/{world['task'].pk}/"
    assert client_as(world.users["annotator"]).get("/tasks/next/")["Location"] == "/tasks/"


def test_viewer_page_passes_escaped_config_without_inline_script(world: Any) -> None:
    patient = world["patient"]
    patient.name = "<script>alert(1)</script>^Jane"
    patient.save()
    page = client_as(world.users["assignee"]).get(f"/tasks/{world['task'].pk}/").content.decode()
    assert "<script>alert(1)" not in page
    start = page.index('id="viewer-config"')
    blob = page[page.index(">", start) + 1 : page.index("</script>", start)]
    config = json.loads(blob)
    assert config["task"] == world["task"].pk and config["canEdit"] is True
    assert config["overlay"]["patientName"].startswith("<script>")
    assert config["seriesInstanceUID"] == world["series"].series_instance_uid


def test_viewer_opens_a_single_2d_image_without_slice_spacing(world: Any) -> None:
    """A DX/US image has no slice spacing (stored as None): the page falls back to 1 mm, no 500."""
    from webapp.labeling.selectors import series_spacing

    series = SeriesFactory(study__patient__project=world["project"], modality="DX", spacing=[0.2, 0.2, None])
    assert series_spacing(series=series) == (1.0, 0.2, 0.2)
    series.spacing = [None, None, None]
    assert series_spacing(series=series) == (1.0, 1.0, 1.0)
    task = TaskFactory(series=series, assignee=world.users["assignee"])
    assert client_as(world.users["assignee"]).get(f"/tasks/{task.pk}/").status_code == 200
