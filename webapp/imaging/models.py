from __future__ import annotations

from django.conf import settings
from django.db import models


class MetadataTextField(models.TextField):
    """Text column for cached DICOM JSON. Having `get_placeholder` keeps Django's PostgreSQL
    bulk_create on multi-row VALUES instead of UNNEST(text[]): psycopg builds array literals in Python,
    escaping every quote of every JSON document (≈ 25 % of ingest time for a 300-instance batch)."""

    def get_placeholder(self, value: object, compiler: object, connection: object) -> str:
        return "%s"


class Patient(models.Model):
    project = models.ForeignKey("labeling.Project", on_delete=models.CASCADE, related_name="patients")
    patient_id = models.CharField(max_length=64)
    name = models.CharField(max_length=324, blank=True)
    birth_date = models.CharField(max_length=8, blank=True)
    sex = models.CharField(max_length=16, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["patient_id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "patient_id"], name="patient_unique_in_project")
        ]
        indexes = [models.Index(fields=["name"])]

    def __str__(self) -> str:
        return self.patient_id


class Study(models.Model):
    project = models.ForeignKey("labeling.Project", on_delete=models.CASCADE, related_name="studies")
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="studies")
    study_instance_uid = models.CharField(max_length=64, unique=True)
    study_date = models.DateField(null=True, blank=True, db_index=True)
    study_time = models.CharField(max_length=16, blank=True)
    accession_number = models.CharField(max_length=64, blank=True, db_index=True)
    description = models.CharField(max_length=200, blank=True)
    referring_physician = models.CharField(max_length=324, blank=True)
    study_id = models.CharField(max_length=16, blank=True)
    modalities = models.CharField(max_length=64, blank=True, help_text="backslash-joined")
    num_series = models.PositiveIntegerField(default=0)
    num_instances = models.PositiveIntegerField(default=0)
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-study_date", "-id"]
        verbose_name_plural = "studies"
        indexes = [models.Index(fields=["project", "-study_date", "-id"])]

    def __str__(self) -> str:
        return self.study_instance_uid


class Series(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="series")
    series_instance_uid = models.CharField(max_length=64, unique=True)
    modality = models.CharField(max_length=16, db_index=True)
    series_number = models.IntegerField(null=True, blank=True)
    description = models.CharField(max_length=200, blank=True)
    body_part = models.CharField(max_length=64, blank=True)
    frame_of_reference_uid = models.CharField(max_length=64, blank=True)
    num_instances = models.PositiveIntegerField(default=0)
    rows = models.PositiveIntegerField(null=True, blank=True)
    columns = models.PositiveIntegerField(null=True, blank=True)
    # Geometry derived at ingest: [row, col, slice] spacing (mm), direction cosines, slice count.
    spacing = models.JSONField(null=True, blank=True)
    orientation = models.JSONField(null=True, blank=True)
    geometry_ok = models.BooleanField(default=True)
    geometry_issue = models.CharField(max_length=500, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["study", "series_number", "id"]
        verbose_name_plural = "series"

    def __str__(self) -> str:
        return self.series_instance_uid


class Instance(models.Model):
    series = models.ForeignKey(Series, on_delete=models.CASCADE, related_name="instances")
    sop_instance_uid = models.CharField(max_length=64, unique=True)
    sop_class_uid = models.CharField(max_length=64)
    instance_number = models.IntegerField(null=True, blank=True)
    transfer_syntax_uid = models.CharField(max_length=64)
    sha256 = models.CharField(max_length=64, db_index=True)
    storage_key = models.CharField(max_length=300)
    size = models.BigIntegerField()
    rows = models.PositiveIntegerField(null=True, blank=True)
    columns = models.PositiveIntegerField(null=True, blank=True)
    number_of_frames = models.PositiveIntegerField(default=1)
    # Position along the series normal; slices are ordered by it.
    slice_position = models.FloatField(null=True, blank=True)
    image_position = models.JSONField(null=True, blank=True)
    orientation = models.JSONField(null=True, blank=True)
    pixel_spacing = models.JSONField(null=True, blank=True)
    samples_per_pixel = models.PositiveSmallIntegerField(default=1)
    bits_allocated = models.PositiveSmallIntegerField(default=16)
    # Byte range of native (uncompressed little-endian) pixel data inside the stored file, so frames
    # are served with one seek + read instead of a parse; null for encapsulated/deflated/big endian.
    pixel_offset = models.BigIntegerField(null=True, blank=True)
    pixel_length = models.BigIntegerField(null=True, blank=True)
    # DICOM JSON of the header (no pixel data), cached at ingest: series metadata is one query.
    metadata = MetadataTextField(blank=True, default="")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["series", "slice_position", "instance_number", "id"]

    def __str__(self) -> str:
        return self.sop_instance_uid


class QuarantinedFile(models.Model):
    """A refused upload, kept with its reason for an admin to inspect and delete."""

    project = models.ForeignKey(
        "labeling.Project", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    filename = models.CharField(max_length=500)
    reason = models.CharField(max_length=500)
    rule = models.CharField(max_length=64)
    sha256 = models.CharField(max_length=64, blank=True)
    storage_key = models.CharField(max_length=300, blank=True)
    size = models.BigIntegerField(default=0)
    source = models.CharField(max_length=16, help_text="upload, stow, cli, cstore")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]


class Pseudonym(models.Model):
    """De-identification map of a project: the same original value always gets the same pseudonym.

    Readable by project admins only (it re-identifies patients)."""

    project = models.ForeignKey("labeling.Project", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=32, help_text="patient_id, patient_name, uid, accession")
    original = models.CharField(max_length=400)
    pseudonym = models.CharField(max_length=64)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "kind", "id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "kind", "original"], name="pseudonym_unique_original")
        ]

    def __str__(self) -> str:
        return f"{self.kind}: {self.pseudonym}"
