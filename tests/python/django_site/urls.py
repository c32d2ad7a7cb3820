from django.contrib import admin
from django.http import HttpResponse, StreamingHttpResponse
from django.urls import path


def where(request):
    return HttpResponse(f"{request.META['SCRIPT_NAME']} {request.path_info} {request.build_absolute_uri()}")


def stream(request):
    return StreamingHttpResponse((f"part {i}\n" for i in range(3)), content_type="text/plain")


urlpatterns = [
    path("admin/", admin.site.urls),
    path("where/", where),
    path("stream/", stream),
]
