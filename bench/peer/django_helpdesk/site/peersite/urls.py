"""URLs: django-helpdesk under /helpdesk/ as its install guide lays it out,
plus the Django admin it relies on for maintenance."""
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("helpdesk/", include("helpdesk.urls", namespace="helpdesk")),
]
