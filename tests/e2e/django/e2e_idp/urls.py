"""django-oauth-toolkit's stock URLs under /o/ (with their trailing slashes), its RFC 8414
metadata at the root as its documentation advises (issuer: the origin), Django's login form,
and one protected API view."""

from django.contrib.auth import views as auth_views
from django.urls import include, path
from oauth2_provider.views import OAuthServerMetadataView

from . import views

urlpatterns = [
    path(".well-known/oauth-authorization-server", OAuthServerMetadataView.as_view()),
    path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/done/", views.logged_in),
    path("api/me", views.Me.as_view()),
]
