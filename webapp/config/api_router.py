"""The REST API under /api/v1/: one router, each app registers its resources here."""

from rest_framework.routers import DefaultRouter

from webapp.imaging.api import InstanceViewSet, PatientViewSet, SeriesViewSet, StudyViewSet
from webapp.labeling.api import FindingViewSet, ProjectViewSet, RevisionViewSet, TaskViewSet

router = DefaultRouter()
router.register("projects", ProjectViewSet, basename="project")
router.register("patients", PatientViewSet, basename="patient")
router.register("studies", StudyViewSet, basename="study")
router.register("series", SeriesViewSet, basename="series")
router.register("instances", InstanceViewSet, basename="instance")
router.register("tasks", TaskViewSet, basename="task")
router.register("revisions", RevisionViewSet, basename="revision")
router.register("findings", FindingViewSet, basename="finding")
