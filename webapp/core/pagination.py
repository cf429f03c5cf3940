from rest_framework.pagination import PageNumberPagination


class StrictPageNumberPagination(PageNumberPagination):
    """Page-number pagination; an out-of-range page is a 404 with a reason (DRF's default)."""

    page_size_query_param = "page_size"
    max_page_size = 500
