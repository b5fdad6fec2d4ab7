#!/usr/bin/env bash
# Validates every Kubernetes manifest under deploy/kubernetes/ (multi-document YAML) against the
# Kubernetes OpenAPI schemas, offline: the schemas ship inside the PyPI package
# kubernetes-validate (JSON Schema per kind and Kubernetes version, resolved locally; nothing is
# downloaded at run time). The package is installed into a venv under target/ on first use.
#
# Strict mode: unknown fields (a typo such as `readinesProbe`) are errors. A resource whose kind
# or apiVersion has no schema is an error too (kubernetes-validate only warns about it).
#
# Usage: deploy/validate.sh [FILE...]      (default: deploy/kubernetes/*.yaml)
# Exit:  0 every document valid, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

VALIDATOR_VERSION=1.37.0
# Kubernetes versions to validate against: the oldest supported here and the newest known.
K8S_VERSIONS=(1.30 1.37)

venv="target/kubernetes-validate-$VALIDATOR_VERSION"
tool="$venv/bin/kubernetes-validate"
if [ ! -x "$tool" ]; then
  echo "installing kubernetes-validate $VALIDATOR_VERSION into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "kubernetes-validate==$VALIDATOR_VERSION"
fi

if [ $# -gt 0 ]; then
  files=("$@")
else
  shopt -s nullglob
  files=(deploy/kubernetes/*.yaml deploy/kubernetes/*.yml)
fi
if [ ${#files[@]} -eq 0 ]; then
  echo "validate.sh: no manifests under deploy/kubernetes/" >&2
  exit 1
fi

versions=()
for v in "${K8S_VERSIONS[@]}"; do versions+=(--kubernetes-version "$v"); done

status=0
output=$("$tool" --strict "${versions[@]}" "${files[@]}" 2>&1) || status=$?
printf '%s\n' "$output"
if grep -qE '^(WARN|ERROR|FATAL)' <<<"$output"; then
  status=1
fi
documents=$(grep -c '^INFO .* passed' <<<"$output" || true)

# Production lint: every container (init containers included) has a securityContext that runs it
# non-root, with a read-only root file system, no privilege escalation, every capability dropped
# and a seccomp profile (container or pod level for runAsNonRoot and seccomp); every image is
# pinned to a full version (7.2.4-alpine, not 7-alpine, :latest or untagged) or a digest; a Deployment of several replicas has a
# PodDisruptionBudget in the same file.
"$venv/bin/python" - "${files[@]}" <<'PY' || status=1
import re, sys, yaml

failed = False
def error(name, what):
    global failed
    print(f"ERROR {name}: {what}")
    failed = True

for name in sys.argv[1:]:
    with open(name) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    pdbs = [d for d in docs if d.get("kind") == "PodDisruptionBudget"]
    for d in docs:
        kind, meta = d.get("kind"), d.get("metadata") or {}
        spec = d.get("spec") or {}
        if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
            template = spec.get("template") or {}
        elif kind == "CronJob":
            template = ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}
        elif kind == "Pod":
            template = d
        else:
            continue
        where = f"{kind}/{meta.get('name')}"
        pod = template.get("spec") or {}
        pod_sc = pod.get("securityContext") or {}
        for c in (pod.get("initContainers") or []) + (pod.get("containers") or []):
            at = f"{where} container {c.get('name')}"
            image = c.get("image", "")
            tag = image.rsplit("/", 1)[-1].partition(":")[2]
            # A full version (7.2.4-alpine, v1.2.3) or a digest; 7-alpine or latest float.
            if "@sha256:" not in image and not re.match(r"v?\d+\.\d+\.\d+", tag):
                error(name, f"{at}: image {image!r} is not pinned to a full version")
            sc = c.get("securityContext")
            if not sc:
                error(name, f"{at}: no securityContext")
                continue
            if not sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")):
                error(name, f"{at}: runAsNonRoot is not true")
            if sc.get("readOnlyRootFilesystem") is not True:
                error(name, f"{at}: readOnlyRootFilesystem is not true")
            if sc.get("allowPrivilegeEscalation") is not False:
                error(name, f"{at}: allowPrivilegeEscalation is not false")
            if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
                error(name, f"{at}: capabilities.drop does not contain ALL")
            seccomp = (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type")
            if seccomp not in ("RuntimeDefault", "Localhost"):
                error(name, f"{at}: no RuntimeDefault or Localhost seccompProfile")
        if kind == "Deployment" and (spec.get("replicas") or 1) > 1:
            labels = (template.get("metadata") or {}).get("labels") or {}
            def selects(pdb):
                wanted = ((pdb.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
                return wanted and all(labels.get(k) == v for k, v in wanted.items())
            if not any(selects(p) for p in pdbs):
                error(name, f"{where}: {spec.get('replicas')} replicas and no PodDisruptionBudget")
if not failed:
    print(f"INFO production lint passed: {', '.join(sys.argv[1:])}")
sys.exit(1 if failed else 0)
PY

# The jargate.toml and clients.json embedded in ConfigMaps and Secrets must also load: run
# `jargate check` on them (with a placeholder for every ${VAR}) when a jargate binary is at hand.
# VALIDATE_REPLACE="text=replacement,…": replaced in the embedded files before the check, for what
# exists only in the cluster: a volume the manifests mount but do not hold (a TLS Secret: a local
# directory of test files instead) or a cluster DNS name (the upstream's host is resolved at
# load). deploy/helm/check.sh uses it.
jargate="${JARGATE:-}"
for candidate in target/release/jargate target/debug/jargate; do
  if [ -z "$jargate" ] && [ -x "$candidate" ]; then jargate="$candidate"; fi
done
if [ -z "$jargate" ]; then
  echo "validate.sh: no jargate binary (set JARGATE or build first): embedded configurations not checked"
else
  "$venv/bin/python" - "$jargate" "${files[@]}" <<'PY' || status=1
import base64, os, re, subprocess, sys, tempfile, yaml

jargate, files = sys.argv[1], sys.argv[2:]
failed = False
for name in files:
    with open(name) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    embedded = {}
    for d in docs:
        if d.get("kind") not in ("ConfigMap", "Secret"):
            continue
        for key, value in (d.get("data") or {}).items():
            embedded[key] = base64.b64decode(value).decode() if d["kind"] == "Secret" else value
        embedded.update(d.get("stringData") or {})
    if "jargate.toml" not in embedded:
        continue
    with tempfile.TemporaryDirectory() as tmp:
        replace = [r.split("=", 1) for r in os.environ.get("VALIDATE_REPLACE", "").split(",") if "=" in r]
        for key, value in embedded.items():
            for text, replacement in replace:
                value = value.replace(text, replacement)
            with open(os.path.join(tmp, key), "w") as out:
                out.write(value)
        env = dict(os.environ)
        for var in re.findall(r"\$\{([A-Za-z0-9_]+)\}", "".join(embedded.values())):
            # 64 hex digits: also a valid value where a key (hex, base64, >= 32 bytes) is expected.
            env.setdefault(var, "0123456789abcdef" * 4)
        run = subprocess.run([jargate, "check", "--config", os.path.join(tmp, "jargate.toml")],
                             env=env, capture_output=True, text=True)
        if run.returncode == 0:
            print(f"INFO {name}: embedded jargate.toml loads (jargate check)")
        else:
            print(f"ERROR {name}: embedded jargate.toml does not load: {run.stderr.strip()}")
            failed = True
sys.exit(1 if failed else 0)
PY
fi
if [ "$status" -eq 0 ]; then
  echo "validate.sh: ${#files[@]} file(s), $documents document check(s) passed (kubernetes ${K8S_VERSIONS[*]})"
else
  echo "validate.sh: FAILED" >&2
  exit 1
fi
