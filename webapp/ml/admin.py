from django.contrib import admin

from .models import InferenceJob, ModelVersion, TrainingRun


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ("name", "version", "project", "state", "created")
    list_filter = ("state", "project")


@admin.register(InferenceJob)
class InferenceJobAdmin(admin.ModelAdmin):
    list_display = ("id", "series", "model_version", "state", "progress", "created")
    list_filter = ("state",)
    raw_id_fields = ("series", "task", "result_revision")


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = ("id", "project", "base_version", "state", "trigger", "created")
    list_filter = ("state", "trigger")
