"""Creates the test IdP's database: the schema, the test user and the OAuth application.

Run by tests/e2e_django.rs before gunicorn starts, with the settings' environment (see
e2e_idp/settings.py) and E2E_DJANGO_CLIENT_ID, E2E_DJANGO_CLIENT_SECRET, E2E_DJANGO_REDIRECT_URI,
E2E_DJANGO_USERNAME, E2E_DJANGO_PASSWORD. The application is what a secret-only IdP knows of
the client: a confidential client with a client secret, the authorization-code grant (PKCE
required, as django-oauth-toolkit wants by default) and `skip_authorization`, so that the
logged-in user is not asked to consent.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "e2e_idp.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from oauth2_provider.models import get_application_model  # noqa: E402


def main():
    call_command("migrate", run_syncdb=True, interactive=False, verbosity=0)
    user = get_user_model().objects.create_user(
        username=os.environ["E2E_DJANGO_USERNAME"],
        password=os.environ["E2E_DJANGO_PASSWORD"],
    )
    application = get_application_model()
    application.objects.create(
        name="jargate e2e client",
        user=user,
        client_id=os.environ["E2E_DJANGO_CLIENT_ID"],
        # Stored hashed (hash_client_secret defaults to True).
        client_secret=os.environ["E2E_DJANGO_CLIENT_SECRET"],
        client_type=application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=os.environ["E2E_DJANGO_REDIRECT_URI"],
        skip_authorization=True,
    )
    print("idp ready", flush=True)


if __name__ == "__main__":
    main()
