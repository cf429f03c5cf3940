"""Model registry: import_bundle validates, one active version per project, uploads are validated
by inference, failed jobs show their reason and can be retried, a finished job's findings say which
detector proposed them."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction

from tests.conftest import client_as
from tests.webapp.ml.helpers import make_bundle
from tests.zoo_bundle import ZOO_CONFIG, zoo_bundle

pytestmark = pytest.mark.django_db


def test_import_bundle_command_registers_and_activates_idempotently(world: Any, tmp_path: Path) -> None:
    from webapp.ml.models import ModelVersion

    make_bundle(tmp_path / "b")
    call_command("import_bundle", str(tmp_path / "b"), "--project", "demo", "--activate")
    call_command("import_bundle", str(tmp_path / "b"), "--project", "demo", "--activate")
    mv = ModelVersion.objects.get(project=world["project"])
    assert mv.state == "active" and mv.metadata["validation"] == "ok"
    world["project"].refresh_from_db()
    assert world["project"].active_model_id == mv.pk
    (tmp_path / "bad" / "configs").mkdir(parents=True)
    (tmp_path / "bad" / "configs" / "metadata.json").write_text("{}")
    with pytest.raises(CommandError, match="invalid bundle"):
        call_command("import_bundle", str(tmp_path / "bad"))


def test_a_model_zoo_bundle_registers_with_the_settings_it_declares(world: Any, tmp_path: Path) -> None:
    from webapp.ml.models import ModelVersion

    zoo_bundle(tmp_path / "zoo", modality="MRI")
    call_command("import_bundle", str(tmp_path / "zoo"), "--project", "demo")
    mv = ModelVersion.objects.get(project=world["project"], name="zoo_like")
    assert mv.modality == "MR"  # from metadata.json's network_data_format
    params = mv.metadata["params"]
    assert params["model_axcodes"] == "RAS" and params["target_spacing"] == [2.0, 2.0, 3.0]
    assert params["intensity"]["a_min"] == -57.0 and params["roi_size"] == [32, 24, 16]
    config = {**ZOO_CONFIG, "preprocessing": {"_target_": "Compose", "transforms": [
        {"_target_": "Rotate90d", "keys": "image"}]}}
    zoo_bundle(tmp_path / "rotated", config)
    with pytest.raises(CommandError, match="Rotate90"):
        call_command("import_bundle", str(tmp_path / "rotated"), "--project", "demo")
    assert ModelVersion.objects.filter(project=world["project"]).count() == 1


def test_database_allows_one_active_version_per_project(world: Any) -> None:
    from webapp.ml.models import ModelVersion

    ModelVersion.objects.create(project=world["project"], name="a", version="1", state="active")
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.create(project=world["project"], name="a", version="2", state="active")


def test_uploaded_zip_is_validated_by_inference(world: Any, tmp_path: Path) -> None:
    from webapp.ml.engine import validate_uploaded, zip_bundle_dir
    from webapp.ml.models import ModelVersion

    make_bundle(tmp_path / "b", version="3.0.0")
    data = zip_bundle_dir(tmp_path / "b")
    admin = client_as(world.users["project_admin"])
    r = admin.post("/api/v1/models/", {"project": "demo", "file": io.BytesIO(data)}, format="multipart")
    assert r.status_code == 201, r.content
    assert r.json()["metadata"]["validation"] == "pending"
    assert admin.post(f"/api/v1/models/{r.json()['id']}/promote/").status_code == 409
    validate_uploaded(model_version_id=r.json()["id"])
    assert ModelVersion.objects.get(pk=r.json()["id"]).metadata["validation"] == "ok"
    assert admin.post(f"/api/v1/models/{r.json()['id']}/promote/").status_code == 200

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("configs/metadata.json", '{"name": "broken", "version": "1"}')
    r = admin.post("/api/v1/models/", {"project": "demo", "file": io.BytesIO(buf.getvalue())}, format="multipart")
    validate_uploaded(model_version_id=r.json()["id"])
    broken = ModelVersion.objects.get(pk=r.json()["id"])
    assert broken.metadata["validation"] == "failed" and broken.state == "discarded"


def test_failed_job_shows_its_reason_and_can_be_retried(world: Any) -> None:
    from tests.webapp.ml.helpers import register_bundle
    from webapp.ml.engine import execute_job
    from webapp.ml.services import request_preannotation

    register_bundle(project=world["project"])
    job = request_preannotation(series=world["series"], requested_by=world.users["annotator"])
    assert job is not None
    execute_job(job_id=job.pk)  # the factory series has no readable instances
    job.refresh_from_db()
    assert job.state == "failed" and job.error
    r = client_as(world.users["annotator"]).get(f"/api/v1/jobs/{job.pk}/")
    assert r.json()["state"] == "failed" and r.json()["error"] == job.error
    r = client_as(world.users["annotator"]).post(f"/api/v1/jobs/{job.pk}/retry/")
    assert r.status_code == 202 and r.json()["state"] == "queued"


def test_a_multi_frame_series_is_refused_with_its_reason_not_misplaced(world: Any) -> None:
    """The viewer lays out single-frame series only: a label of a multi-frame (Enhanced CT/MR)
    series would be drawn on slices in another order, so pre-annotation refuses it, and a
    training run leaves its reviewed label out."""
    from inference.errors import InferenceError
    from tests.factories import InstanceFactory, make_revision
    from tests.webapp.ml.helpers import register_bundle
    from webapp.ml.engine import MULTI_FRAME_REFUSAL, dataset_cases, execute_job, read_series_volume
    from webapp.ml.models import TrainingRun
    from webapp.ml.services import request_preannotation

    series = world["series"]
    InstanceFactory(series=series, slice_position=0.0)
    InstanceFactory(series=series, slice_position=2.0, number_of_frames=3, stored_file=False)
    with pytest.raises(InferenceError, match="multi-frame"):
        read_series_volume(series_id=series.pk)
    register_bundle(project=world["project"])
    job = request_preannotation(series=series, requested_by=world.users["annotator"])
    assert job is not None
    execute_job(job_id=job.pk)
    job.refresh_from_db()
    assert job.state == "failed" and job.error == MULTI_FRAME_REFUSAL
    assert job.result_revision_id is None
    rev = make_revision(task=world["task"])
    run = TrainingRun(dataset=[{"revision": rev.pk, "series": series.pk, "task": world["task"].pk}],
                      config={})
    assert dataset_cases(run) == []  # left out of training, not a failed run


def test_complete_job_stores_which_detector_proposed_each_finding(world: Any) -> None:
    """The detector comes from the candidate (Candidate.to_dict()); a candidate of an older bundle
    has none, and an unknown or malformed one is not stored (a bundle's output is not trusted)."""
    from inference.candidates import Candidate
    from webapp.labeling.models import Finding
    from webapp.ml.models import InferenceJob, ModelVersion
    from webapp.ml.services import complete_job

    mv = ModelVersion.objects.create(project=world["project"], name="m", version="1", bundle_key="bundles/m.zip",
                                     sha256="0" * 64, state=ModelVersion.State.ACTIVE)
    job = InferenceJob.objects.create(project=world["project"], series=world["series"], model_version=mv,
                                      task=world["task"], state=InferenceJob.State.RUNNING)

    def candidate(segment: int, detector: Any = None) -> dict[str, Any]:
        c = Candidate(label=segment, probability_max=0.9, probability_mean=0.7, centroid_voxel=(1.0, 2.0, 3.0),
                      centroid_mm=(3.0, 2.0, 1.0), diameter_mm=5.0, volume_mm3=60.0,
                      bbox=(0, 1, 2, 2, 3, 4)).to_dict()
        if detector is None:
            del c["detector"]  # as an older bundle's candidates (a KeyError here: to_dict() lost the key)
        else:
            c["detector"] = detector
        return c

    candidates = [candidate(1, "second_stage"), candidate(2, "network"), candidate(3), candidate(4, "bogus"),
                  candidate(5, "second_stage" + "x" * 40), candidate(6, ["second_stage"]), candidate(7, "")]
    rev = complete_job(job_id=job.pk, label=np.zeros((2, 4, 4), np.uint8), candidates=candidates)
    assert rev is not None
    stored = dict(Finding.objects.filter(revision=rev).values_list("segment", "detector"))
    assert stored == {1: "second_stage", 2: "network", 3: "", 4: "", 5: "", 6: "", 7: ""}
    # the API names each detector as reviewers see it (the viewer's badge reads this label)
    rows = client_as(world.users["reviewer"]).get(f"/api/v1/findings/?revision={rev.pk}").json()["results"]
    labels = {f["segment"]: (f["detector"], f["detector_label"]) for f in rows}
    assert labels[1] == ("second_stage", "blob stage") and labels[2] == ("network", "network")
    assert labels[3] == ("", "")
