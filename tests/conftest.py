"""Shared fixtures: a `world` of users in every role around one project, API clients, and a
real Celery worker process bound to the test database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
ROLES = ["anonymous", "outsider", "annotator", "assignee", "reviewer", "project_admin", "site_admin"]


@dataclass
class World:
    users: dict[str, Any]
    objects: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.objects[key]


@pytest.fixture
def float32_cpu(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """CPU inference and training in float32 whatever the CPU: tests that compare Nodus's
    output with a plain float32 computation would otherwise see bfloat16 rounding (~1e-3) on
    CPUs with native bfloat16."""
    from inference.engine import cpu_bf16

    monkeypatch.setenv("NODUS_CPU_BF16", "0")
    cpu_bf16.cache_clear()
    yield
    cpu_bf16.cache_clear()  # the next call sees the restored environment


@pytest.fixture
def world(db: None) -> World:
    """One project (`demo`), one other project (`other`), a study/series/task in each, and a user
    for every role of the permission matrix."""
    from webapp.accounts.models import Role
    from webapp.labeling.schema import LUNG_NODULE_SCHEMA

    from .factories import MembershipFactory, ProjectFactory, SeriesFactory, TaskFactory, UserFactory

    project = ProjectFactory(slug="demo", label_schema=LUNG_NODULE_SCHEMA)
    other = ProjectFactory(slug="other")
    users: dict[str, Any] = {"anonymous": None}
    users["outsider"] = UserFactory(username="outsider")
    MembershipFactory(user=users["outsider"], project=other, role=Role.ANNOTATOR)
    users["annotator"] = UserFactory(username="annotator")
    MembershipFactory(user=users["annotator"], project=project, role=Role.ANNOTATOR)
    users["assignee"] = UserFactory(username="assignee")
    MembershipFactory(user=users["assignee"], project=project, role=Role.ANNOTATOR)
    users["reviewer"] = UserFactory(username="reviewer")
    MembershipFactory(user=users["reviewer"], project=project, role=Role.REVIEWER)
    users["project_admin"] = UserFactory(username="padmin")
    MembershipFactory(user=users["project_admin"], project=project, role=Role.ADMIN)
    users["site_admin"] = UserFactory(username="root", is_superuser=True, is_staff=True)

    series = SeriesFactory(study__patient__project=project)
    task = TaskFactory(series=series, assignee=users["assignee"])
    other_series = SeriesFactory(study__patient__project=other)
    other_task = TaskFactory(series=other_series, assignee=users["outsider"])
    objects = {
        "project": project,
        "other_project": other,
        "study": series.study,
        "patient": series.study.patient,
        "series": series,
        "task": task,
        "other_task": other_task,
        "other_series": other_series,
    }
    return World(users=users, objects=objects)


def client_as(user: Any) -> Any:
    from rest_framework.test import APIClient

    client = APIClient()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def api_as() -> Any:
    return client_as


def test_database_url() -> str:
    """URL of the test database pytest-django created (for worker subprocesses)."""
    from django.db import connection

    s = connection.settings_dict
    user, password, host, port = s["USER"], s["PASSWORD"] or "", s["HOST"] or "", s["PORT"] or ""
    if host.startswith("/"):
        return f"postgresql://{user}:{password}@/{s['NAME']}?host={host}"
    return f"postgresql://{user}:{password}@{host}:{port or 5432}/{s['NAME']}"


@dataclass
class WorkerProcess:
    proc: subprocess.Popen[bytes]
    name: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def start_worker(*, queues: str = "default,gpu", extra_env: dict[str, str] | None = None) -> WorkerProcess:
    from webapp.config.celery import app

    ARTIFACTS.mkdir(exist_ok=True)
    name = f"test-{uuid.uuid4().hex[:8]}@localhost"
    log = ARTIFACTS / f"worker-{name.split('@')[0]}.log"
    env = dict(os.environ, DATABASE_URL=test_database_url(),
               DJANGO_SETTINGS_MODULE="webapp.config.test_settings", PYTHONUNBUFFERED="1",
               **(extra_env or {}))
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "webapp.config", "worker", "-Q", queues,
             "--concurrency", "1", "-n", name, "--without-mingle", "--without-gossip", "-l", "INFO"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"celery worker exited early:\n{log.read_text()}")
        if app.control.ping(destination=[name], timeout=0.5):
            return WorkerProcess(proc=proc, name=name, log=log)
    proc.kill()
    raise RuntimeError(f"celery worker did not answer within 60 s:\n{log.read_text()}")


@pytest.fixture
def celery_worker_process(transactional_db: None) -> Iterator[WorkerProcess]:
    """A real `celery worker` subprocess consuming default and gpu queues of the test database."""
    from webapp.config.celery import app

    app.control.purge()
    worker = start_worker()
    try:
        yield worker
    finally:
        if worker.proc.poll() is None:
            worker.proc.terminate()
            try:
                worker.proc.wait(20)
            except subprocess.TimeoutExpired:
                worker.proc.kill()


def _run_order(item: Any) -> int:
    if item.get_closest_marker("asyncio"):
        return 0
    if "browser" in getattr(item, "fixturenames", ()):
        return 3  # the session-scoped Playwright browser of tests/e2e: last
    if item.get_closest_marker("browser"):
        return 2  # tests that start and stop their own Playwright
    return 1


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    """Order: asyncio tests, plain tests, browser tests. Playwright's sync API keeps an event loop
    on the test thread while a browser lives; no other code may start a loop on it after that."""
    items.sort(key=_run_order)
