from django.contrib import admin

from .models import Membership


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "project", "role", "created")
    list_filter = ("role", "project")
    search_fields = ("user__username", "project__slug")
