"""A resource server view (who the bearer token belongs to) and the login form's landing page."""

from django.http import HttpResponse, JsonResponse
from oauth2_provider.views.generic import ProtectedResourceView


class Me(ProtectedResourceView):
    def get(self, request, *args, **kwargs):
        return JsonResponse({"username": request.resource_owner.username})


def logged_in(request):
    return HttpResponse("logged in\n", content_type="text/plain")
