"""Test-only: records what reached the IdP, one JSON line per request, in E2E_DJANGO_REQUEST_LOG.

For every request: method, path, the names of the query and form parameters (values only for
the plain, non-secret ones the test compares), and the scheme of an Authorization header. The
test reads it to prove that django-oauth-toolkit saw plain parameters and a client secret only,
and that the requests jargate refused never arrived. Secrets, codes and tokens are never
written (their value is replaced by "<redacted>").
"""

import json
import os
import threading

# Parameters whose values the test compares; every other value is redacted.
PLAIN = {
    "client_id",
    "response_type",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge_method",
    "grant_type",
    "token_type_hint",
}

_lock = threading.Lock()


def _parameters(query_dict):
    return [
        [name, value if name in PLAIN else "<redacted>"]
        for name, values in query_dict.lists()
        for value in values
    ]


class RequestLog:
    def __init__(self, get_response):
        self.get_response = get_response
        self.path = os.environ["E2E_DJANGO_REQUEST_LOG"]

    def __call__(self, request):
        authorization = request.META.get("HTTP_AUTHORIZATION", "")
        content_type = request.META.get("CONTENT_TYPE", "")
        form = (
            _parameters(request.POST)
            if content_type.startswith("application/x-www-form-urlencoded")
            else []
        )
        entry = {
            "method": request.method,
            "path": request.path,
            "query": _parameters(request.GET),
            "form": form,
            "authorization": authorization.split(" ", 1)[0] if authorization else None,
        }
        line = json.dumps(entry, sort_keys=True) + "\n"
        # Written before the view runs: a request the IdP received is on record even when it
        # fails there.
        with _lock, open(self.path, "a", encoding="utf-8") as log:
            log.write(line)
        return self.get_response(request)
