"""How a Python authorization server reads a forwarded request: gunicorn-style request-line
and header reading (urllib.parse.urlsplit on the target, the last of repeated headers wins),
Werkzeug's Request for the path, the query and the form/JSON body, urllib.parse.parse_qsl as
a second form reader, and Werkzeug's Basic credentials parser for the client.

Long-running: one JSON line per request on stdin ({"raw": base64 of the whole request}), one
JSON line per answer on stdout. Exits with an error at once when Werkzeug is missing, so the
differential tests fail instead of skipping."""

import base64
import io
import json
import sys
import urllib.parse

from werkzeug.wrappers import Request


def split_request(raw):
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, target, _version = lines[0].split(" ", 2)
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    return method, target, headers, body


def dechunk(body):
    out = b""
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2:]
    return out


def environ_for(method, target, headers, body):
    # gunicorn: urlsplit on the target; for a non-origin target, its path is routed.
    parts = urllib.parse.urlsplit(target)
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": urllib.parse.unquote(parts.path, "latin-1"),
        "QUERY_STRING": parts.query,
        "SERVER_NAME": "upstream",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
    }
    for name, value in headers:
        key = name.upper().replace("-", "_")
        if key == "CONTENT_TYPE" or key == "CONTENT_LENGTH":
            environ[key] = value
        else:
            environ["HTTP_" + key] = value
    environ["CONTENT_LENGTH"] = str(len(body))
    return environ


def multi(pairs):
    out = {}
    for name, value in pairs:
        out.setdefault(name, []).append(value)
    return out


def assertion_sub(token):
    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        return json.loads(base64.urlsafe_b64decode(payload)).get("sub")
    except Exception:
        return None


def view(raw):
    method, target, headers, body = split_request(raw)
    if any(n.lower() == "transfer-encoding" for n, _ in headers):
        # gunicorn de-chunks before the application sees the body.
        body = dechunk(body)
        headers = [(n, v) for n, v in headers if n.lower() != "transfer-encoding"]
    request = Request(environ_for(method, target, headers, body))
    werkzeug = multi(request.args.items(multi=True))
    if request.mimetype == "application/json":
        data = request.get_json(silent=True) or {}
        for name, value in data.items():
            werkzeug.setdefault(name, []).append(value)
    else:
        for name, value in request.form.items(multi=True):
            werkzeug.setdefault(name, []).append(value)
        for name, storage in request.files.items(multi=True):
            werkzeug.setdefault(name, []).append(storage.read().decode("utf-8", "replace"))
    client = None
    if request.authorization is not None and request.authorization.type == "basic":
        # RFC 6749 §2.3.1: the id is form-encoded inside the Basic credentials.
        client = urllib.parse.unquote_plus(request.authorization.username)
    if client is None:
        ids = werkzeug.get("client_id")
        client = ids[-1] if ids else None
    if client is None and werkzeug.get("client_assertion"):
        client = assertion_sub(werkzeug["client_assertion"][-1])
    parts = urllib.parse.urlsplit(target)
    urllib_params = multi(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
    if request.mimetype == "application/x-www-form-urlencoded":
        for name, value in urllib.parse.parse_qsl(body.decode("utf-8", "replace"),
                                                  keep_blank_values=True):
            urllib_params.setdefault(name, []).append(value)
    elif request.mimetype == "application/json":
        urllib_params = werkzeug
    return {
        "werkzeug": {"path": request.path, "params": werkzeug, "client": client},
        "urllib": {"path": parts.path, "params": urllib_params, "client": client},
    }


def main():
    print(json.dumps({"ready": "python"}), flush=True)
    for line in sys.stdin:
        try:
            answer = view(base64.b64decode(json.loads(line)["raw"]))
        except Exception as e:  # the test reports it as a disagreement
            answer = {"error": repr(e)}
        print(json.dumps(answer), flush=True)


main()
