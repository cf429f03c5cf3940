from django.contrib import admin

from .models import Finding, LabelRevision, Project, Review, Task


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "deidentify", "auto_preannotate", "active_model")
    search_fields = ("slug", "name")


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ("id", "project", "series", "assignee", "state", "updated")
    list_filter = ("state", "project")
    raw_id_fields = ("series", "head_revision")


@admin.register(LabelRevision)
class LabelRevisionAdmin(admin.ModelAdmin):
    list_display = ("id", "task", "author", "model_version", "encoding", "size", "created")
    readonly_fields = ("sha256", "storage_key")
    raw_id_fields = ("task", "parent")


@admin.register(Finding)
class FindingAdmin(admin.ModelAdmin):
    list_display = ("id", "task", "segment", "label_class", "source", "status", "diameter_mm", "probability",
                    "detector")
    list_filter = ("source", "status", "detector")
    raw_id_fields = ("task", "revision")


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):
    list_display = ("id", "task", "reviewer", "decision", "created")
    list_filter = ("decision",)
    raw_id_fields = ("task", "finding")
