"""The REST API under /api/v1/: one router, each app registers its resources here."""

from rest_framework.routers import DefaultRouter

from webapp.imaging.api import InstanceViewSet, PatientViewSet, SeriesViewSet, StudyViewSet
from webapp.imaging.upload import QuarantineViewSet, UploadViewSet
from webapp.labeling.api import FindingViewSet, ProjectViewSet, RevisionViewSet, TaskViewSet
from webapp.labeling.review_api import ReviewViewSet
from webapp.ml.api import AuditViewSet, InferenceJobViewSet, ModelVersionViewSet, TrainingRunViewSet

router = DefaultRouter()
router.register("projects", ProjectViewSet, basename="project")
router.register("patients", PatientViewSet, basename="patient")
router.register("studies", StudyViewSet, basename="study")
router.register("series", SeriesViewSet, basename="series")
router.register("instances", InstanceViewSet, basename="instance")
router.register("uploads", UploadViewSet, basename="upload")
router.register("quarantine", QuarantineViewSet, basename="quarantine")
router.register("tasks", TaskViewSet, basename="task")
router.register("revisions", RevisionViewSet, basename="revision")
router.register("findings", FindingViewSet, basename="finding")
router.register("reviews", ReviewViewSet, basename="review")
router.register("models", ModelVersionViewSet, basename="model")
router.register("jobs", InferenceJobViewSet, basename="job")
router.register("training-runs", TrainingRunViewSet, basename="training-run")
router.register("audit", AuditViewSet, basename="audit")
