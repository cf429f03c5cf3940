"""`manage.py load_demo`: demo mode only, idempotent, data ingested through the real ingest service."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from webapp.accounts.models import Membership
from webapp.imaging.models import Instance, Study
from webapp.labeling.models import Project, Task
from webapp.labeling.schema import LUNG_NODULE_SCHEMA

pytestmark = pytest.mark.django_db


def test_refused_outside_demo_mode(settings):
    settings.DEMO = False
    with pytest.raises(CommandError, match="NODUS_DEMO"):
        call_command("load_demo", "--small")
    assert not Project.objects.filter(slug="demo-lung").exists()


def test_loads_project_users_studies_and_tasks_once(settings):
    settings.DEMO = True
    call_command("load_demo", "--small")
    project = Project.objects.get(slug="demo-lung")
    assert project.label_schema == LUNG_NODULE_SCHEMA
    User = get_user_model()
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.check_password("nodus-demo")
    roles = dict(Membership.objects.filter(project=project).values_list("user__username", "role"))
    assert roles == {"admin": "admin", "annotator": "annotator", "reviewer": "reviewer"}
    studies = Study.objects.filter(project=project)
    assert studies.count() == 6
    assert all(s.num_instances == 16 and s.modalities == "CT" for s in studies)
    assert Instance.objects.filter(series__study__project=project).exclude(metadata="").count() == 6 * 16
    tasks = Task.objects.filter(project=project)
    assert tasks.count() == 6 and {t.assignee.username for t in tasks} == {"annotator"}
    call_command("load_demo", "--small")  # idempotent
    assert Study.objects.filter(project=project).count() == 6 and Task.objects.filter(project=project).count() == 6
