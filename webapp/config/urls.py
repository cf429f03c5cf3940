from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from webapp.accounts.views import ObtainTokenView
from webapp.core import health, views
from webapp.imaging import pages as imaging_pages

from .api_router import router

admin.site.site_header = "Nodus administration"

urlpatterns = [
    path("", views.home, name="home"),
    path("studies/", views.studies_page, name="studies"),
    path("studies/<int:pk>/", views.study_page, name="study"),
    path("patients/", views.patients_page, name="patients"),
    path("", include("webapp.labeling.urls")),
    path("", include("webapp.labeling.review_urls")),
    path("", include("webapp.ml.urls")),
    path("healthz", health.healthz, name="healthz"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/v1/auth/token/", ObtainTokenView.as_view(), name="api-token"),
    path("api/v1/", include(router.urls)),
    path("upload/", imaging_pages.upload_page, name="upload"),
    path("dicomweb/", include("webapp.imaging.dicomweb.urls")),
    path("projects/<slug:project>/dicomweb/", include("webapp.imaging.dicomweb.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
