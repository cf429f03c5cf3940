"""Study list API with 10,000 studies: latency percentiles and query counts per page size.

Usage: DATABASE_URL=postgres://postgres@127.0.0.1:5432/nodus_bench .venv/bin/python bench/catalog.py
(the database is created and filled on first use). Requests go through the whole Django + DRF
stack in-process (test client, session auth), so the numbers exclude only the network hop.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.config.test_settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/nodus_bench")

N_STUDIES = 10_000


def ensure_database() -> None:
    import psycopg

    url = os.environ["DATABASE_URL"]
    base, _, name = url.rpartition("/")
    with psycopg.connect(base + "/postgres", autocommit=True) as conn:
        if not conn.execute("select 1 from pg_database where datname=%s", (name,)).fetchone():
            conn.execute(f'create database "{name}"')


def fill() -> None:
    from datetime import date, timedelta

    from django.contrib.auth import get_user_model
    from pydicom.uid import generate_uid

    from webapp.accounts.models import Membership
    from webapp.imaging.models import Patient, Series, Study
    from webapp.labeling.models import Project

    project, _ = Project.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
    user, created = get_user_model().objects.get_or_create(username="bench-reader")
    if created:
        user.set_password("bench-password")
        user.save()
    Membership.objects.get_or_create(user=user, project=project, role="annotator")
    have = Study.objects.filter(project=project).count()
    if have >= N_STUDIES:
        return
    patients = Patient.objects.bulk_create(
        [Patient(project=project, patient_id=f"B{i:06d}", name=f"Bench^Patient{i}") for i in range(have, N_STUDIES)]
    )
    studies = Study.objects.bulk_create(
        [Study(project=project, patient=p, study_instance_uid=generate_uid(),
               study_date=date(2020, 1, 1) + timedelta(days=i % 1500), accession_number=f"BA{i:07d}",
               description="CT CHEST", modalities="CT" if i % 3 else "MR", num_series=1, num_instances=300)
         for i, p in enumerate(patients)], batch_size=2000,
    )
    Series.objects.bulk_create(
        [Series(study=s, series_instance_uid=generate_uid(), modality="CT", num_instances=300) for s in studies],
        batch_size=2000,
    )


def measure(client: object, url: str, n: int) -> tuple[float, float, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times = []
    queries = 0
    for i in range(n):
        t0 = time.perf_counter()
        with CaptureQueriesContext(connection) as ctx:
            r = client.get(url)  # type: ignore[attr-defined]
        times.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, r.content[:200]
        queries = len(ctx.captured_queries) if i == 0 else queries
    times.sort()
    return statistics.median(times), times[int(0.95 * (len(times) - 1))], queries


def main() -> None:
    ensure_database()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    fill()
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.get(username="bench-reader"))
    cases = [
        ("first page, 50", "/api/v1/studies/?page_size=50"),
        ("first page, 10", "/api/v1/studies/?page_size=10"),
        ("first page, 200", "/api/v1/studies/?page_size=200"),
        ("page 150 of 50", "/api/v1/studies/?page=150&page_size=50"),
        ("patient_id exact", "/api/v1/studies/?patient_id=B004242"),
        ("name contains", "/api/v1/studies/?patient_name=Patient42"),
        ("modality + dates", "/api/v1/studies/?modality=MR&date_from=2021-01-01&date_to=2021-06-30"),
        ("search", "/api/v1/studies/?search=BA00099"),
        ("ordering by date", "/api/v1/studies/?ordering=study_date"),
    ]
    print(f"machine: {platform.node()} {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"{N_STUDIES} studies")
    print(f"{'case':<22}{'p50 ms':>10}{'p95 ms':>10}{'queries':>10}")
    for name, url in cases:
        measure(client, url, 3)  # warm caches
        p50, p95, q = measure(client, url, 60)
        print(f"{name:<22}{p50:>10.1f}{p95:>10.1f}{q:>10}")


if __name__ == "__main__":
    main()
