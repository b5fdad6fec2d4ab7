"""Settings of the test IdP: django-oauth-toolkit on sqlite, loopback only.

Everything that varies per run comes from the environment (set by tests/e2e_django.rs):
E2E_DJANGO_DB (the sqlite file, in the test's temp dir), E2E_DJANGO_SECRET_KEY and
E2E_DJANGO_REQUEST_LOG (the JSON-lines file of what the IdP received, see middleware.py).
"""

import os

BASE_DIR = os.path.dirname(os.path.abspath(__file__))

SECRET_KEY = os.environ["E2E_DJANGO_SECRET_KEY"]
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "oauth2_provider",
    "e2e_idp",
]

MIDDLEWARE = [
    # First, so that it records every request that reaches Django, whatever happens next.
    "e2e_idp.middleware.RequestLog",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]

ROOT_URLCONF = "e2e_idp.urls"
WSGI_APPLICATION = "e2e_idp.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
            ],
        },
    },
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["E2E_DJANGO_DB"],
    }
}

# Fast hashing: the test user's password and the application's secret are hashed on every
# login and token request; the default PBKDF2 rounds would dominate the test's run time.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/accounts/done/"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# A database made for one run: the tables are created from the models at once
# (`migrate --run-syncdb`) instead of replaying every app's migration history, which takes
# several seconds of CPU.
MIGRATION_MODULES = {app: None for app in ["auth", "contenttypes", "sessions", "oauth2_provider"]}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}

OAUTH2_PROVIDER = {
    # The client's redirect URI is plain http on loopback (never fetched).
    "ALLOWED_REDIRECT_URI_SCHEMES": ["http", "https"],
    "PKCE_REQUIRED": True,
    "SCOPES": {"read": "Read", "introspection": "Introspect tokens"},
    "DEFAULT_SCOPES": ["read"],
}
