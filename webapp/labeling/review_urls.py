from django.urls import path

from . import review_api, review_pages

urlpatterns = [
    path("review/", review_pages.review_queue, name="review-queue"),
    path("review/<int:pk>/", review_pages.review_task, name="review-task"),
    path("api/v1/findings/<int:pk>/decision/", review_api.FindingDecisionView.as_view(), name="finding-decision"),
]
