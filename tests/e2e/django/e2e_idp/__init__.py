"""A minimal Django project serving django-oauth-toolkit: the legacy IdP of tests/e2e_django.rs."""
