"""The worker side of webapp.ml: the only web module (with measure.py) that calls `inference` and
`training`. Celery tasks and management commands call it; it writes through `services`."""

from __future__ import annotations

import io
import logging
import os
import shutil
import tempfile
import time
import zipfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
from celery.exceptions import SoftTimeLimitExceeded

from inference import Bundle, BundleError, InferenceCancelled, InferenceError, Volume, load_bundle, run_inference
from inference.io import read_dicom_series
from webapp.core.storage import get_storage
from webapp.imaging.models import Instance
from webapp.labeling import codec
from webapp.labeling.models import Finding, LabelRevision, Project

from . import events, services
from .models import InferenceJob, ModelVersion, TrainingRun

log = logging.getLogger(__name__)
_ZIP_DATE = (2020, 1, 1, 0, 0, 0)
PROGRESS_EVERY_S = 0.1  # websocket events
PERSIST_EVERY_S = 1.0  # job/run rows


# --- bundles ---------------------------------------------------------------------------------


def zip_bundle_dir(root: Path) -> bytes:
    """Deterministic zip of a bundle directory (same files → same bytes → same sha256)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            rel = path.relative_to(root)
            if any(part.startswith(".") or part == "__pycache__" for part in rel.parts):
                continue
            if rel.parts[0] not in ("configs", "models", "docs"):
                continue
            info = zipfile.ZipInfo(rel.as_posix(), date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())
    return buf.getvalue()


def bundle_info(bundle: Bundle) -> dict[str, Any]:
    return {"bundle": bundle.metadata, "params": bundle.params, "validation": "ok"}


def import_bundle(
    *, path: Path, project: Project | None, actor: Any = None, activate: bool = False,
    parent: ModelVersion | None = None,
) -> ModelVersion:
    """Validate a bundle directory or zip with `inference.load_bundle`, store it as a zip, register
    a ModelVersion (idempotent by project, name, version, sha256), optionally activate it."""
    path = Path(path)
    bundle = load_bundle(path)
    data = zip_bundle_dir(path) if path.is_dir() else path.read_bytes()
    key, digest = _store_zip(data)
    mv = services.register_model_version(
        project=project, name=bundle.name, version=bundle.version, modality=str(bundle.params["modality"]),
        bundle_key=key, sha256=digest, metadata=bundle_info(bundle), actor=actor, parent=parent,
    )
    if activate:
        mv = services.activate_version(version=mv, actor=actor, reason="import")
    return mv


def _store_zip(data: bytes) -> tuple[str, str]:
    from webapp.core.storage import put_content_addressed

    return put_content_addressed("bundles", data, ".zip")


_bundle_cache: dict[str, Bundle] = {}


def bundle_for(mv: ModelVersion) -> Bundle:
    """The version's bundle, loaded once per worker process (one model kept in memory)."""
    cached = _bundle_cache.get(mv.sha256)
    if cached is not None:
        return cached
    with get_storage().local_copy(mv.bundle_key) as p:
        bundle = load_bundle(p)
    _bundle_cache.clear()
    _bundle_cache[mv.sha256] = bundle
    return bundle


def validate_uploaded(*, model_version_id: int) -> None:
    mv = ModelVersion.objects.get(pk=model_version_id)
    try:
        with get_storage().local_copy(mv.bundle_key) as p:
            bundle = load_bundle(p)
    except BundleError as exc:
        services.set_validation(model_version_id=mv.pk, ok=False, detail=str(exc))
        return
    info = bundle_info(bundle)
    info.pop("validation")
    services.set_validation(model_version_id=mv.pk, ok=True, detail="loaded by inference.load_bundle", info=info)


# --- series → volume --------------------------------------------------------------------------


class MultiFrameSeries(InferenceError):
    """A series the viewer cannot lay out as the model reads it: refused, not misplaced."""


MULTI_FRAME_REFUSAL = (
    "the series stores its slices in multi-frame instances (e.g. Enhanced CT/MR): the viewer lays "
    "out single-frame series only, so a label of it could land on the wrong slices; "
    "`python -m inference run` reads such a series outside the web app"
)


def read_series_volume(*, series_id: int) -> Volume:
    rows = list(
        Instance.objects.filter(series_id=series_id)
        .order_by("slice_position", "instance_number", "id")
        .values_list("storage_key", "number_of_frames")
    )
    if not rows:
        raise InferenceError("the series has no instances")
    # inference.io sorts frames along the slice normal, the viewer keeps each file's frame order
    if any((frames or 1) > 1 for _key, frames in rows):
        raise MultiFrameSeries(MULTI_FRAME_REFUSAL)
    keys = [key for key, _frames in rows]
    storage = get_storage()
    with ExitStack() as stack:
        paths = [stack.enter_context(storage.local_copy(k)) for k in keys]
        return read_dicom_series(paths)


def wait_for_series_to_settle(*, series_id: int, max_wait_s: float = 30.0) -> None:
    """Instances of one series may arrive in several ingest batches (C-STORE sends them one by
    one): start reading once no instance arrived for NODUS_SERIES_SETTLE_S seconds."""
    from django.db.models import Max
    from django.utils import timezone

    quiet = float(os.environ.get("NODUS_SERIES_SETTLE_S", "1.0") or 0)
    deadline = time.monotonic() + max_wait_s
    while quiet > 0 and time.monotonic() < deadline:
        last = Instance.objects.filter(series_id=series_id).aggregate(m=Max("created"))["m"]
        age = (timezone.now() - last).total_seconds() if last else quiet
        if age >= quiet:
            return
        time.sleep(min(quiet - age, 0.5))


# --- pre-annotation ---------------------------------------------------------------------------


class _Reporter:
    """Progress callback: websocket events every PROGRESS_EVERY_S (and on each new stage), the
    job row every PERSIST_EVERY_S, and the cancellation flag read with it."""

    def __init__(self, job: InferenceJob) -> None:
        self.job = job
        self.last_event = self.last_persist = 0.0
        self.stage = ""
        self.stop = False
        self.delay = float(os.environ.get("NODUS_INFERENCE_THROTTLE_S", "0") or 0)  # tests/bench only

    def __call__(self, fraction: float, stage: str) -> None:
        now = time.monotonic()
        new_stage = stage != self.stage
        self.stage = stage
        self.job.progress, self.job.stage = fraction, stage
        if new_stage or now - self.last_event >= PROGRESS_EVERY_S:
            self.last_event = now
            events.job_event(self.job, "progress")
        if new_stage or now - self.last_persist >= PERSIST_EVERY_S:
            self.last_persist = now
            services.save_job_progress(job_id=self.job.pk, fraction=fraction, stage=stage)
            self.stop = services.job_should_stop(job_id=self.job.pk)
        if self.delay:
            time.sleep(self.delay)

    def should_cancel(self) -> bool:
        return self.stop


class _StageClock:
    """Seconds spent in each stage of a job, in order (kept on the job's audit row and event)."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self.t = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.timings[stage] = round(now - self.t, 3)
        self.t = now


def execute_job(*, job_id: int) -> None:
    job = services.begin_job(job_id=job_id)
    if job is None:
        return
    report = _Reporter(job)
    clock = _StageClock()
    try:
        report(0.0, "loading model")
        bundle = bundle_for(job.model_version)
        clock.lap("load_model")
        report(0.01, "waiting for the series")
        wait_for_series_to_settle(series_id=job.series_id)
        clock.lap("settle_wait")
        report(0.02, "reading series")
        volume = read_series_volume(series_id=job.series_id)
        clock.lap("read_series")
        result = run_inference(bundle, volume, on_progress=lambda f, stage: report(0.05 + 0.9 * f, stage),
                               should_cancel=report.should_cancel)
        clock.lap("inference")
        clock.timings.update({f"inference.{k}": round(v, 3) for k, v in result.timings.items()})
        report(0.97, "saving")
        services.complete_job(
            job_id=job.pk, label=result.label, candidates=[c.to_dict() for c in result.candidates],
            seconds=round(result.seconds, 3), timings=clock.timings,
        )
        clock.lap("save")
        log.info("job %s finished: %s", job.pk, clock.timings)
    except InferenceCancelled:
        services.fail_job(job_id=job.pk, reason="cancelled", cancelled=True)
    except SoftTimeLimitExceeded:
        services.fail_job(job_id=job.pk, reason="time limit exceeded")
    except InferenceError as exc:
        services.fail_job(job_id=job.pk, reason=str(exc))
    except Exception as exc:  # noqa: BLE001 - any failure is shown on the job, with its reason
        log.exception("inference job %s failed", job.pk)
        services.fail_job(job_id=job.pk, reason=f"{type(exc).__name__}: {exc}")


# --- training ---------------------------------------------------------------------------------

TRAINABLE = {Finding.Status.ACCEPTED, Finding.Status.EDITED}
_heldout_cache: dict[tuple[Any, ...], list[Any]] = {}


def revision_label(*, revision: LabelRevision) -> np.ndarray:
    """Binary training label of a revision: accepted/edited findings only (suggested and rejected
    segments are background, i.e. negatives)."""
    volume = codec.decode(get_storage().read(revision.storage_key), tuple(revision.shape))
    keep = list(
        Finding.objects.filter(revision=revision, status__in=TRAINABLE).values_list("segment", flat=True)
    )
    return np.isin(volume, keep).astype(np.uint8)


def dataset_cases(run: TrainingRun) -> list[Any]:
    from training.data import Case

    cases: list[Any] = []
    for item in run.dataset:
        revision = LabelRevision.objects.get(pk=item["revision"])
        try:
            volume = read_series_volume(series_id=item["series"])
        except MultiFrameSeries as exc:  # other read errors fail the run, as before
            log.warning("revision %s skipped: %s", revision.pk, exc)
            continue
        label = revision_label(revision=revision)
        if label.shape != volume.array.shape:
            log.warning("revision %s does not match its series grid; skipped", revision.pk)
            continue
        cases.append(Case(case_id=f"task-{item['task']}", patient_id=f"series-{item['series']}", volume=volume,
                          label=label))
    n = int(run.config.get("phantoms", 0) or 0)
    if n:
        cases += phantom_cases(range(1000, 1000 + n), size=int(run.config.get("phantom_size", 96)),
                               slices=int(run.config.get("phantom_slices", 48)), modality=run.base_version.modality)
    return cases


def phantom_cases(seeds: range, *, size: int, slices: int, modality: str) -> list[Any]:
    from training.phantoms import brain_mr, chest_ct
    from training.starter import phantom_case

    make = brain_mr if modality == "MR" else chest_ct
    return [phantom_case(make(s, size=size, slices=slices), f"phantom-{s}") for s in seeds]


def heldout_cases(config: dict[str, Any], modality: str) -> tuple[str, list[Any]]:
    """The project's held-out set: phantoms with fixed seeds (900000+i), cached per process."""
    h = {"n": 3, "size": 96, "slices": 48, **(config.get("heldout") or {})}
    key = (modality, int(h["n"]), int(h["size"]), int(h["slices"]))
    if key not in _heldout_cache:
        _heldout_cache[key] = phantom_cases(range(900000, 900000 + key[1]), size=key[2], slices=key[3],
                                            modality=modality)
    return "heldout:{}:{}x{}x{}".format(*key), _heldout_cache[key]


def _score(m: dict[str, Any]) -> tuple[float, float]:
    return (float(m.get("f1") or 0.0), float(m.get("dice") or 0.0))


def execute_training(*, run_id: int) -> None:
    from training.evaluate import evaluate
    from training.finetune import Progress, TrainingCancelled, finetune
    from training.recipe import RecipeError, recipe_for

    run = services.begin_run(run_id=run_id)
    if run is None:
        return
    work = Path(tempfile.mkdtemp(prefix=f"nodus-run-{run.pk}-"))
    history: list[dict[str, Any]] = []
    state = {"event": 0.0, "persist": 0.0, "cancel": False}

    def on_progress(p: Progress) -> None:
        point: dict[str, Any] = {"iteration": p.iteration, "epoch": p.epoch, "loss": round(float(p.loss), 5),
                                 "lr": float(p.lr)}
        if p.val:
            point.update({k: (round(float(v), 4) if v is not None else None) for k, v in p.val.items()})
        history.append(point)
        now = time.monotonic()
        if p.val or now - state["event"] >= PROGRESS_EVERY_S:
            state["event"] = now
            events.run_event(run, "progress", point=point)
        if p.val or now - state["persist"] >= PERSIST_EVERY_S:
            state["persist"] = now
            state["cancel"] = services.save_run_history(run_id=run.pk, history=history)

    try:
        base = run.base_version
        with get_storage().local_copy(base.bundle_key) as base_zip:
            base_path = work / "base.zip"
            shutil.copyfile(base_zip, base_path)
        cases = dataset_cases(run)
        if not cases:
            raise InferenceError("no usable training cases in the snapshot")
        # The base's own crops and augmentation, with the run's settings on top.
        config = recipe_for((base.metadata or {}).get("bundle") or {}, run.config)
        result = finetune(
            base_path, cases, config, work / "out", on_progress=on_progress,
            should_cancel=lambda: bool(state["cancel"]), parent_version=f"{base.name}@{base.version}",
            command=f"nodus training run {run.pk}",
        )
        services.save_run_history(run_id=run.pk, history=history)
        services.set_run_state(run_id=run.pk, state=TrainingRun.State.EVALUATING)
        heldout_id, heldout = heldout_cases(run.config, base.modality)
        min_d = float(run.config.get("min_diameter_mm", 4.0 if base.modality != "MR" else 3.0))
        candidate = load_bundle(result.bundle_dir)
        cand_metrics = evaluate(candidate, heldout, min_diameter_mm=min_d).to_dict()
        active = run.project.active_model or base
        active_metrics = (active.metrics or {}).get(heldout_id)
        if active_metrics is None:
            active_metrics = evaluate(bundle_for(active), heldout, min_diameter_mm=min_d).to_dict()
            ModelVersion.objects.filter(pk=active.pk).update(metrics={**(active.metrics or {}),
                                                                       heldout_id: active_metrics})
        keys = ("dice", "sensitivity", "precision", "f1", "accuracy", "fp_per_scan", "cpm", "sensitivity_at_1fp")
        comparison = {
            "heldout": heldout_id, "active_version": active.pk,
            "candidate": {k: cand_metrics.get(k) for k in keys},
            "active": {k: active_metrics.get(k) for k in keys},
            "better": _score(cand_metrics) > _score(active_metrics),
        }
        metrics = {**result.metrics, "heldout": {k: cand_metrics.get(k) for k in (*keys, "froc")},
                   heldout_id: cand_metrics}
        services.finish_run(
            run_id=run.pk, bundle_zip=zip_bundle_dir(Path(result.bundle_dir)), bundle_meta=candidate.metadata,
            metrics=metrics, comparison=comparison, history=history,
        )
    except TrainingCancelled:
        services.fail_run(run_id=run.pk, reason="cancelled", cancelled=True)
    except SoftTimeLimitExceeded:
        services.fail_run(run_id=run.pk, reason="time limit exceeded")
    except (InferenceError, RecipeError) as exc:
        services.fail_run(run_id=run.pk, reason=str(exc))
    except Exception as exc:  # noqa: BLE001 - shown on the run with its reason
        log.exception("training run %s failed", run.pk)
        services.fail_run(run_id=run.pk, reason=f"{type(exc).__name__}: {exc}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
