"""Builders for the AI-loop tests: tiny bundles, phantom series ingested for real, loop objects
for the permission matrix."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from tests.tiny_net import TINY_NET

TINY_PARAMS = {
    "modality": "CT",
    "target_spacing": [2.0, 2.0, 2.0],
    "intensity": {"mode": "window", "a_min": -1000.0, "a_max": 400.0},
    "roi_size": [16, 16, 16],
    "sw_batch_size": 1,
    "sw_overlap": 0.25,
    "sw_mode": "constant",
    "threshold": 0.5,
    "min_component_mm3": 10.0,
}


def make_bundle(out: Path, *, version: str = "1.0.0", name: str = "tiny-ct", constant: bool = True,
                params: dict[str, Any] | None = None, training: dict[str, Any] | None = None) -> Path:
    """A tiny UNet bundle. `constant`: zero weights and a foreground bias, so every voxel is
    predicted as lesion (one deterministic candidate); otherwise seeded random weights (trainable)."""
    import torch
    from monai.bundle import ConfigParser

    from inference.bundle import write_bundle

    torch.manual_seed(0)
    net = ConfigParser({"n": TINY_NET}).get_parsed_content("n")
    state = net.state_dict()
    if constant:
        for v in state.values():
            if v.is_floating_point():
                v.zero_()
        bias = [k for k in state if k.endswith("bias")][-1]
        state[bias] = torch.tensor([0.0, 2.0])
    meta = {"name": name, "version": version, "description": "tiny test network",
            "network_data_format": {"inputs": {"image": {"num_channels": 1}}},
            **({"training": training} if training else {})}
    return write_bundle(out, metadata=meta, config={"network_def": TINY_NET, **TINY_PARAMS, **(params or {})},
                        state_dict=state)


def register_bundle(*, project: Any, constant: bool = True, version: str = "1.0.0", activate: bool = True,
                    **kw: Any) -> Any:
    from webapp.ml.engine import import_bundle

    out = Path(tempfile.mkdtemp(prefix="nodus-tiny-bundle-"))
    make_bundle(out, constant=constant, version=version, **kw)
    return import_bundle(path=out, project=project, activate=activate, actor="test")


def phantom_files(seed: int = 7, *, size: int = 48, slices: int = 20, patient_id: str = "PH1") -> tuple[list[Any], Any]:
    from training.phantoms import chest_ct, write_dicom_series

    ph = chest_ct(seed, size=size, slices=slices, n_lesions=2, min_diameter_mm=6.0, max_diameter_mm=12.0)
    out = Path(tempfile.mkdtemp(prefix="nodus-phantom-"))
    paths = write_dicom_series(ph, out, patient_id=patient_id, patient_name="Phantom^Test")
    return paths, ph


def ingest_phantom(*, project: Any, actor: Any = None, seed: int = 7, **kw: Any) -> Any:
    """Ingest a phantom series through the ingest service (which sends `series_ingested`)."""
    from webapp.imaging.models import Series
    from webapp.imaging.services import IncomingFile, ingest_files

    paths, _ = phantom_files(seed, patient_id=f"PH{seed}", **kw)
    report = ingest_files(project=project, files=[IncomingFile(p.name, p.read_bytes()) for p in paths],
                          actor=actor, source="cli")
    uid = report.results[0].series_instance_uid
    assert report.summary()["stored"] == len(paths), report.summary()
    return Series.objects.get(series_instance_uid=uid)


def save_truth_revision(*, task: Any, label: np.ndarray, status: str = "accepted") -> Any:
    """Store `label` (instances) as the task's head revision with accepted human findings."""
    from webapp.core.storage import put_content_addressed
    from webapp.labeling import codec
    from webapp.labeling.models import Finding, LabelRevision

    blob = codec.encode(label.astype(np.uint8))
    key, digest = put_content_addressed("labels", blob)
    rev = LabelRevision.objects.create(task=task, parent=task.head_revision, storage_key=key,
                                       encoding=codec.ENCODING, shape=list(label.shape), sha256=digest,
                                       size=len(blob))
    for seg in sorted(int(v) for v in np.unique(label) if v):
        Finding.objects.create(task=task, revision=rev, segment=seg, label_class="nodule", status=status)
    task.head_revision = rev
    task.save(update_fields=["head_revision"])
    return rev


def add_loop_objects(world: Any) -> None:
    """Objects of the AI loop for the permission matrix (names prefixed so other rows keep theirs):
    an active and a candidate version, a failed job, a running training run, a second task of the
    assignee with an AI suggestion and a review comment."""
    from tests.factories import TaskFactory
    from webapp.labeling.models import Finding, LabelRevision, Review, Task
    from webapp.ml.models import InferenceJob, ModelVersion, TrainingRun

    project = world["project"]
    active = ModelVersion.objects.create(project=project, name="m", version="1", bundle_key="bundles/x.zip",
                                         sha256="0" * 64, state=ModelVersion.State.ACTIVE)
    project.active_model = active
    project.save(update_fields=["active_model"])
    candidate = ModelVersion.objects.create(project=project, name="m", version="2", bundle_key="bundles/y.zip",
                                            sha256="1" * 64, parent=active, metadata={"validation": "ok"})
    job = InferenceJob.objects.create(project=project, series=world["series"], model_version=active,
                                      task=world["task"], state=InferenceJob.State.FAILED, error="boom")
    run = TrainingRun.objects.create(project=project, base_version=active, state=TrainingRun.State.RUNNING)
    task = TaskFactory(series=world["series"], assignee=world.users["assignee"], state=Task.State.IN_PROGRESS)
    rev = LabelRevision.objects.create(task=task, model_version=active, storage_key="labels/x",
                                       encoding="rle8+deflate", shape=[1, 64, 64], sha256="2" * 64)
    finding = Finding.objects.create(task=task, revision=rev, segment=1, label_class="nodule",
                                     source=Finding.Source.AI, status=Finding.Status.SUGGESTED, model_version=active)
    review = Review.objects.create(task=task, reviewer=world.users["reviewer"], decision=Review.Decision.COMMENT,
                                   comment="look at slice 3", slice_index=3)
    world.objects.update(model_version=candidate, active_version=active, job=job, training_run=run,
                         loop_task=task, ai_finding=finding, loop_review=review)


def accepted_phantom_task(*, world: Any, seed: int = 21) -> Any:
    """A phantom series ingested for real, with its truth label as the accepted head revision."""
    from webapp.imaging.models import Series
    from webapp.imaging.services import IncomingFile, ingest_files
    from webapp.labeling.models import Task

    paths, ph = phantom_files(seed, patient_id=f"TR{seed}", size=48, slices=16)
    report = ingest_files(project=world["project"], files=[IncomingFile(p.name, p.read_bytes()) for p in paths],
                          actor=None, source="cli")
    series = Series.objects.get(series_instance_uid=report.results[0].series_instance_uid)
    task = Task.objects.create(project=world["project"], series=series, assignee=world.users["assignee"],
                               state=Task.State.ACCEPTED)
    save_truth_revision(task=task, label=ph.label)
    return task
