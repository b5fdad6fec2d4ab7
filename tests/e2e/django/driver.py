"""The client side of tests/e2e_django.rs: a relying party built on authlib, whose JWTs are signed
by joserfc (an independent JOSE stack from the Node tests' jose), against django-oauth-toolkit
behind jargate in legacy mode.

    driver.py keys --workdir DIR
        the client's key pairs (RS256 for private_key_jwt, ES256 for request objects), the
        IdP's client secret, the test user's password and Django's SECRET_KEY, in DIR/keys;
        DIR/client.json describes them.
    driver.py flow --workdir DIR --proxy URL --idp URL --request-log FILE
        every case below; prints one JSON line {"ok": bool, "cases": [...]}, exit 0 when ok.

The client is configured from jargate's discovery document alone (django-oauth-toolkit's RFC
8414 metadata, which jargate augments with its PAR endpoint, request objects and
private_key_jwt). The IdP's request log (e2e_idp/middleware.py) shows what reached it: each
accepted step checks that it saw plain parameters and a client secret only; each refusal
checks jargate's status and error code and that the IdP received nothing.
"""

import argparse
import base64
import hashlib
import json
import secrets
import sys
import time
import traceback
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT, private_key_jwt_sign
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

AUTH_ALG = "RS256"  # authlib's default for private_key_jwt
JAR_ALG = "ES256"
CLIENT_ID = "jargate-e2e-django"
USERNAME = "alice"
REDIRECT_URI = "http://127.0.0.1/callback"  # registered at the IdP, never fetched
HTTP_TIMEOUT = 10
# What django-oauth-toolkit may see at its authorization endpoint: the request object's claims
# as jargate translates them (SPEC §1), nothing jargate interprets.
PLAIN_AUTHORIZE = {
    "client_id",
    "response_type",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
}
JARGATE_ONLY = {"request", "request_uri", "client_assertion", "client_assertion_type"}


# ---------------------------------------------------------------------------------------------
# keys


def write_keys(workdir):
    keys = workdir / "keys"
    keys.mkdir(parents=True, exist_ok=True)
    auth = RSAKey.generate_key(2048, private=True)
    jar = ECKey.generate_key("P-256", private=True)
    description = {"client_id": CLIENT_ID, "username": USERNAME, "redirect_uri": REDIRECT_URI}
    for name, key, alg in [("auth", auth, AUTH_ALG), ("jar", jar, JAR_ALG)]:
        (keys / f"{name}.private.pem").write_bytes(key.as_pem(private=True))
        (keys / f"{name}.public.pem").write_bytes(key.as_pem(private=False))
        description[name] = {
            "alg": alg,
            "kid": key.thumbprint(),
            "public_pem_file": str(keys / f"{name}.public.pem"),
        }
    (keys / "upstream-client-secret.txt").write_text(secrets.token_urlsafe(32))
    (keys / "user-password.txt").write_text(secrets.token_urlsafe(16))
    (keys / "django-secret-key.txt").write_text(secrets.token_urlsafe(40))
    (workdir / "client.json").write_text(json.dumps(description, indent=2))


# ---------------------------------------------------------------------------------------------
# the client


class Client:
    """The relying party: its keys, and an authlib session that authenticates with
    private_key_jwt."""

    def __init__(self, workdir, metadata):
        keys = workdir / "keys"
        self.metadata = metadata
        self.auth_key = RSAKey.import_key((keys / "auth.private.pem").read_bytes())
        self.jar_key = ECKey.import_key((keys / "jar.private.pem").read_bytes())
        self.session = OAuth2Session(
            client_id=CLIENT_ID,
            client_secret=self.auth_key,
            token_endpoint_auth_method="private_key_jwt",
            revocation_endpoint_auth_method="private_key_jwt",
            redirect_uri=REDIRECT_URI,
            scope="read",
        )
        self.assertions = RecordingPrivateKeyJWT(headers={"kid": self.auth_key.thumbprint()})
        self.session.register_client_auth_method(self.assertions)

    def request_object(self, claims=None, key=None, lifetime=60, issued_at=None):
        """A request object signed with joserfc (`key`: another key, for forgeries)."""
        key = key or self.jar_key
        now = int(time.time()) if issued_at is None else issued_at
        payload = {
            "iss": CLIENT_ID,
            "aud": self.metadata["issuer"],
            "client_id": CLIENT_ID,
            "response_type": "code",
            "redirect_uri": REDIRECT_URI,
            "scope": "read",
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "jti": secrets.token_urlsafe(16),
        }
        payload.update(claims or {})
        header = {"alg": JAR_ALG, "kid": self.jar_key.thumbprint(), "typ": "oauth-authz-req+jwt"}
        return jwt.encode(header, payload, key, algorithms=[JAR_ALG])

    def assertion(self, audience, key=None, issued_at=None, lifetime=60):
        """A client assertion made by authlib's own signing function (`key`: a forgery)."""
        now = int(time.time()) if issued_at is None else issued_at
        return private_key_jwt_sign(
            key or self.auth_key,
            client_id=CLIENT_ID,
            token_endpoint=audience,
            alg=AUTH_ALG,
            header={"kid": self.auth_key.thumbprint()},
            issued_at=now,
            expires_at=now + lifetime,
        )

    def push(self, request_object):
        """PAR with authlib's private_key_jwt client authentication."""
        return self.session.post(
            self.metadata["pushed_authorization_request_endpoint"],
            data={"client_id": CLIENT_ID, "request": request_object},
            auth=self.session.client_auth("private_key_jwt"),
            timeout=HTTP_TIMEOUT,
        )


class RecordingPrivateKeyJWT(PrivateKeyJWT):
    """authlib's private_key_jwt with a lifetime jargate accepts, remembering what it sent.

    authlib signs assertions valid for an hour; jargate's default maximum lifetime is 300 s
    (`limits.assertion_max_lifetime_secs`), so the lifetime is shortened here. The audience is
    authlib's default, the URL of the endpoint called, which jargate's configuration lists in
    `issuer.aliases`."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.sent = []

    def sign(self, auth, token_endpoint):
        assertion = private_key_jwt_sign(
            auth.client_secret,
            client_id=auth.client_id,
            token_endpoint=token_endpoint,
            alg=self.alg,
            header=dict(self.headers or {}),
            expires_in=60,
        )
        self.sent.append(assertion)
        return assertion


def pkce_pair():
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


# ---------------------------------------------------------------------------------------------
# what reached the IdP


class RequestLog:
    def __init__(self, path):
        self.path = Path(path)

    def entries(self):
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line]

    def mark(self):
        return len(self.entries())

    def since(self, mark):
        return self.entries()[mark:]


def names(parameters):
    return {name for name, _ in parameters}


def values(parameters, name):
    return [value for n, value in parameters if n == name]


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def expect_refusal(response, status, error, log, mark):
    """jargate refused with `status` and `error`, and the IdP received nothing."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    check(
        response.status_code == status and body.get("error") == error,
        f"expected {status} {error}, got {response.status_code} {body}",
    )
    arrived = log.since(mark)
    check(not arrived, f"the IdP received a refused request: {arrived}")
    return f"{status} {error}: {body.get('error_description')}"


# ---------------------------------------------------------------------------------------------
# the flow


class Flow:
    def __init__(self, args):
        self.workdir = Path(args.workdir)
        self.proxy = args.proxy.rstrip("/")
        self.idp = args.idp.rstrip("/")
        self.log = RequestLog(args.request_log)
        self.password = (self.workdir / "keys" / "user-password.txt").read_text().strip()
        self.browser = requests.Session()
        self.cases = []
        self.client = None

    def case(self, name, function):
        started = time.monotonic()
        try:
            detail = function()
            self.cases.append({"name": name, "ok": True, "detail": detail})
        except Exception as error:  # every failure is reported, the next case still runs
            self.cases.append(
                {
                    "name": name,
                    "ok": False,
                    "error": f"{type(error).__name__}: {error}",
                    "trace": traceback.format_exc(limit=3),
                }
            )
        self.cases[-1]["ms"] = round((time.monotonic() - started) * 1000)

    def run(self):
        self.case("idp_refuses_client_assertions_without_jargate", self.control_direct)
        self.case("discovery_names_jargate_features", self.discovery)
        if self.client is None:
            return
        self.case("user_logs_in_through_jargate", self.login)
        self.case("par_authorize_token_with_authlib", self.par_code_flow)
        self.case("request_object_by_value_then_its_replay", self.request_by_value)
        self.case("introspection_with_private_key_jwt", self.introspection)
        self.case("authlib_repeating_its_jti_refused", self.repeated_jti)
        self.case("forged_client_assertion_refused", self.forged_assertion)
        self.case("expired_client_assertion_refused", self.expired_assertion)
        self.case("replayed_client_assertion_refused", self.replayed_assertion)
        self.case("forged_request_object_refused", self.forged_request_object)
        self.case("expired_request_object_refused", self.expired_request_object)
        self.case("replayed_request_uri_refused", self.replayed_request_uri)
        self.case("forged_request_object_refused_at_par", self.forged_push)
        self.case("revocation_with_private_key_jwt", self.revocation)

    # The control: the IdP itself knows no client assertion (success through jargate is its
    # translation).
    def control_direct(self):
        client = Client(self.workdir, {"issuer": self.idp})
        response = requests.post(
            f"{self.idp}/o/token/",
            data={
                "grant_type": "authorization_code",
                "code": "x",
                "redirect_uri": REDIRECT_URI,
                "client_id": CLIENT_ID,
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": client.assertion(f"{self.idp}/o/token/"),
            },
            timeout=HTTP_TIMEOUT,
        )
        check(response.status_code == 401, f"the IdP answered {response.status_code}")
        check(response.json().get("error") == "invalid_client", response.text)
        return "the IdP alone: 401 invalid_client for private_key_jwt"

    def discovery(self):
        response = requests.get(
            f"{self.proxy}/.well-known/oauth-authorization-server", timeout=HTTP_TIMEOUT
        )
        check(response.status_code == 200, f"discovery: {response.status_code}")
        metadata = response.json()
        check(metadata.get("issuer") == self.proxy, f"issuer {metadata.get('issuer')}")
        check(
            metadata.get("pushed_authorization_request_endpoint") == f"{self.proxy}/o/par",
            f"PAR endpoint {metadata.get('pushed_authorization_request_endpoint')}",
        )
        check(metadata.get("request_parameter_supported") is True, "request_parameter_supported")
        check(
            JAR_ALG in metadata.get("request_object_signing_alg_values_supported", []),
            "request object algs",
        )
        check(
            "private_key_jwt" in metadata.get("token_endpoint_auth_methods_supported", []),
            "token_endpoint_auth_methods_supported",
        )
        endpoints = [
            "authorization_endpoint",
            "token_endpoint",
            "introspection_endpoint",
            "revocation_endpoint",
        ]
        for endpoint in endpoints:
            check(
                metadata.get(endpoint, "").startswith(f"{self.proxy}/o/"),
                f"{endpoint}: {metadata.get(endpoint)}",
            )
        self.client = Client(self.workdir, metadata)
        return {k: metadata[k] for k in ["issuer", "pushed_authorization_request_endpoint"]}

    def login(self):
        login = f"{self.proxy}/accounts/login/"
        page = self.browser.get(login, timeout=HTTP_TIMEOUT)
        check(page.status_code == 200, f"login page: {page.status_code}")
        response = self.browser.post(
            login,
            data={
                "username": USERNAME,
                "password": self.password,
                "csrfmiddlewaretoken": self.browser.cookies.get("csrftoken", ""),
            },
            headers={"Referer": login},
            allow_redirects=False,
            timeout=HTTP_TIMEOUT,
        )
        check(response.status_code == 302, f"login: {response.status_code}")
        check("sessionid" in self.browser.cookies, "no session cookie after login")
        return "Django session cookie"

    def authorize(self, query):
        """The user agent at the authorization endpoint, through jargate; the redirect's
        parameters (or the refusal)."""
        url = f"{self.client.metadata['authorization_endpoint']}?{urlencode(query)}"
        return self.browser.get(url, allow_redirects=False, timeout=HTTP_TIMEOUT)

    def code_from(self, response, state):
        check(response.status_code == 302, f"authorize: {response.status_code} {response.text}")
        location = response.headers.get("Location", "")
        check(location.startswith(REDIRECT_URI + "?"), f"redirected to {location.split('?')[0]}")
        parameters = parse_qs(urlsplit(location).query)
        check(parameters.get("state") == [state], "state differs")
        check("code" in parameters, f"no code: error {parameters.get('error')}")
        return parameters["code"][0]

    def check_plain_authorize(self, entries, state):
        """The IdP's authorization endpoint saw the object's claims as plain parameters."""
        authorize = [e for e in entries if e["path"] == "/o/authorize/"]
        check(len(authorize) == 1, f"authorize requests at the IdP: {entries}")
        query = authorize[0]["query"]
        check(names(query) == PLAIN_AUTHORIZE, f"the IdP saw {sorted(names(query))}")
        check(values(query, "client_id") == [CLIENT_ID], "client_id")
        check(values(query, "state") == [state], "state")
        check(values(query, "code_challenge_method") == ["S256"], "code_challenge_method")

    def check_secret_only(self, entries, path):
        """The IdP's `path` saw a client secret in the form, no assertion, no Basic header."""
        seen = [e for e in entries if e["path"] == path]
        check(len(seen) == 1, f"{path} requests at the IdP: {entries}")
        form = names(seen[0]["form"])
        check("client_secret" in form, f"no client_secret at {path}: {sorted(form)}")
        check(not form & JARGATE_ONLY, f"{path} saw {sorted(form & JARGATE_ONLY)}")
        check(seen[0]["authorization"] is None, f"Authorization header at {path}")
        check(values(seen[0]["form"], "client_id") == [CLIENT_ID], "client_id")

    def par_code_flow(self):
        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(12)
        mark = self.log.mark()
        pushed = self.client.push(
            self.client.request_object(
                {"state": state, "code_challenge": challenge, "code_challenge_method": "S256"}
            )
        )
        check(pushed.status_code == 201, f"PAR: {pushed.status_code} {pushed.text}")
        request_uri = pushed.json()["request_uri"]
        check(request_uri.startswith("urn:ietf:params:oauth:request_uri:"), "request_uri")
        check(not self.log.since(mark), "PAR reached the IdP (legacy: jargate answers it)")
        self.request_uri = request_uri

        mark = self.log.mark()
        code = self.code_from(
            self.authorize({"client_id": CLIENT_ID, "request_uri": request_uri}), state
        )
        self.check_plain_authorize(self.log.since(mark), state)

        mark = self.log.mark()
        token = self.client.session.fetch_token(
            self.client.metadata["token_endpoint"],
            grant_type="authorization_code",
            code=code,
            code_verifier=verifier,
            timeout=HTTP_TIMEOUT,
        )
        check(token.get("access_token"), f"no access token: {sorted(token)}")
        check(token.get("token_type") == "Bearer", "token_type")
        self.check_secret_only(self.log.since(mark), "/o/token/")
        self.token = token

        me = requests.get(
            f"{self.proxy}/api/me",
            headers={"Authorization": f"Bearer {token['access_token']}"},
            timeout=HTTP_TIMEOUT,
        )
        check(me.status_code == 200, f"/api/me: {me.status_code}")
        check(me.json().get("username") == USERNAME, f"/api/me: {me.json()}")
        return {"token_type": token["token_type"], "scope": token.get("scope"), "user": USERNAME}

    def request_by_value(self):
        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(12)
        request_object = self.client.request_object(
            {"state": state, "code_challenge": challenge, "code_challenge_method": "S256"}
        )
        query = {"client_id": CLIENT_ID, "request": request_object}
        mark = self.log.mark()
        self.code_from(self.authorize(query), state)
        self.check_plain_authorize(self.log.since(mark), state)
        mark = self.log.mark()
        return expect_refusal(self.authorize(query), 400, "invalid_request_object", self.log, mark)

    def introspection(self):
        mark = self.log.mark()
        response = self.client.session.introspect_token(
            self.client.metadata["introspection_endpoint"],
            token=self.token["access_token"],
            timeout=HTTP_TIMEOUT,
        )
        check(response.status_code == 200, f"introspection: {response.status_code}")
        answer = response.json()
        check(answer.get("active") is True, f"introspection: {answer}")
        check(answer.get("client_id") == CLIENT_ID, f"introspection: {answer}")
        check(answer.get("username") == USERNAME, f"introspection: {answer}")
        self.check_secret_only(self.log.since(mark), "/o/introspect/")
        return {"active": True}

    def repeated_jti(self):
        """authlib's PrivateKeyJWT given extra `claims` stores the jti it draws in that dict, so
        every later assertion repeats it: the first introspection passes, the second is a replay
        that jargate refuses before the IdP sees it."""
        stock = PrivateKeyJWT(
            claims={"exp": int(time.time()) + 60},
            headers={"kid": self.client.auth_key.thumbprint()},
        )
        auth = self.client.session.client_auth(stock)
        endpoint = self.client.metadata["introspection_endpoint"]
        token = {"token": self.token["access_token"]}
        first = requests.post(endpoint, data=token, auth=auth, timeout=HTTP_TIMEOUT)
        check(first.status_code == 200, f"first introspection: {first.status_code}")
        mark = self.log.mark()
        second = requests.post(endpoint, data=token, auth=auth, timeout=HTTP_TIMEOUT)
        return expect_refusal(second, 401, "invalid_client", self.log, mark)

    def revocation(self):
        """Last, as it ends the token: revoked with private_key_jwt, then refused by the IdP's
        protected view."""
        mark = self.log.mark()
        response = self.client.session.revoke_token(
            self.client.metadata["revocation_endpoint"],
            token=self.token["access_token"],
            token_type_hint="access_token",
            timeout=HTTP_TIMEOUT,
        )
        check(response.status_code == 200, f"revocation: {response.status_code}")
        self.check_secret_only(self.log.since(mark), "/o/revoke_token/")
        me = requests.get(
            f"{self.proxy}/api/me",
            headers={"Authorization": f"Bearer {self.token['access_token']}"},
            timeout=HTTP_TIMEOUT,
        )
        check(me.status_code in (401, 403), f"/api/me after revocation: {me.status_code}")
        return {"after_revocation": me.status_code}

    def token_request(self, assertion):
        return requests.post(
            self.client.metadata["token_endpoint"],
            data={
                "grant_type": "authorization_code",
                "code": "unused",
                "redirect_uri": REDIRECT_URI,
                "client_id": CLIENT_ID,
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": assertion,
            },
            timeout=HTTP_TIMEOUT,
        )

    def forged_assertion(self):
        other = RSAKey.generate_key(2048, private=True)
        assertion = self.client.assertion(self.client.metadata["token_endpoint"], key=other)
        mark = self.log.mark()
        return expect_refusal(self.token_request(assertion), 401, "invalid_client", self.log, mark)

    def expired_assertion(self):
        assertion = self.client.assertion(
            self.client.metadata["token_endpoint"], issued_at=int(time.time()) - 200
        )
        mark = self.log.mark()
        return expect_refusal(self.token_request(assertion), 401, "invalid_client", self.log, mark)

    def replayed_assertion(self):
        # The assertion authlib sent with the token request of the code flow.
        token_endpoint = self.client.metadata["token_endpoint"]
        used = [a for a in self.client.assertions.sent if audience(a) == token_endpoint]
        check(used, "authlib sent no assertion to the token endpoint")
        mark = self.log.mark()
        return expect_refusal(self.token_request(used[0]), 401, "invalid_client", self.log, mark)

    def forged_request_object(self):
        other = ECKey.generate_key("P-256", private=True)
        query = {"client_id": CLIENT_ID, "request": self.client.request_object(key=other)}
        mark = self.log.mark()
        return expect_refusal(self.authorize(query), 400, "invalid_request_object", self.log, mark)

    def expired_request_object(self):
        request_object = self.client.request_object(issued_at=int(time.time()) - 200)
        query = {"client_id": CLIENT_ID, "request": request_object}
        mark = self.log.mark()
        return expect_refusal(self.authorize(query), 400, "invalid_request_object", self.log, mark)

    def replayed_request_uri(self):
        query = {"client_id": CLIENT_ID, "request_uri": self.request_uri}
        mark = self.log.mark()
        return expect_refusal(self.authorize(query), 400, "invalid_request_uri", self.log, mark)

    def forged_push(self):
        other = ECKey.generate_key("P-256", private=True)
        mark = self.log.mark()
        response = self.client.push(self.client.request_object(key=other))
        return expect_refusal(response, 400, "invalid_request_object", self.log, mark)


def audience(assertion):
    """The `aud` of a compact JWT, unverified (only to tell the recorded assertions apart)."""
    payload = assertion.split(".")[1]
    payload += "=" * (-len(payload) % 4)
    return json.loads(base64.urlsafe_b64decode(payload)).get("aud")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["keys", "flow"])
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--proxy")
    parser.add_argument("--idp")
    parser.add_argument("--request-log")
    args = parser.parse_args()
    if args.command == "keys":
        write_keys(Path(args.workdir))
        return 0
    flow = Flow(args)
    flow.run()
    ok = bool(flow.cases) and all(case["ok"] for case in flow.cases)
    print(json.dumps({"ok": ok, "cases": flow.cases}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
