from django.contrib import admin

from .models import Instance, Patient, QuarantinedFile, Series, Study


@admin.register(Patient)
class PatientAdmin(admin.ModelAdmin):
    list_display = ("patient_id", "name", "project", "created")
    search_fields = ("patient_id", "name")
    list_filter = ("project",)


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin):
    list_display = ("study_instance_uid", "patient", "study_date", "modalities", "num_series", "num_instances")
    search_fields = ("study_instance_uid", "accession_number", "patient__patient_id")
    list_filter = ("project",)
    raw_id_fields = ("patient",)


@admin.register(Series)
class SeriesAdmin(admin.ModelAdmin):
    list_display = ("series_instance_uid", "modality", "num_instances", "geometry_ok", "geometry_issue")
    search_fields = ("series_instance_uid", "description")
    list_filter = ("modality", "geometry_ok")
    raw_id_fields = ("study",)


@admin.register(Instance)
class InstanceAdmin(admin.ModelAdmin):
    list_display = ("sop_instance_uid", "series", "instance_number", "transfer_syntax_uid", "size")
    search_fields = ("sop_instance_uid", "sha256")
    raw_id_fields = ("series",)


@admin.register(QuarantinedFile)
class QuarantinedFileAdmin(admin.ModelAdmin):
    list_display = ("created", "filename", "rule", "reason", "source", "project", "uploaded_by")
    list_filter = ("rule", "source")
    search_fields = ("filename", "reason", "sha256")
    readonly_fields = [f.name for f in QuarantinedFile._meta.fields]
