#!/usr/bin/env bash
# Where the time goes: profiles behind the figures of load.sh and the validation bench.
#
#   bash benches/profile.sh     # after benches/load.sh (reuses its configs and token pools)
#
# 1. Per request, at saturation (wrk -t2 -c64, $DURATION s): syscalls, context switches and CPU
#    of the server under test (perf stat on every thread: tracepoints and task-clock), for
#    jargate and HAProxy, passthrough and RS256 validation.
# 2. jargate validating RS256 assertions: perf record (cpu-clock sampling; this machine has no
#    hardware counters, so `perf stat -e instructions` is not supported) with DWARF call
#    graphs: top functions by self time, and the inclusive share of the main frames.
# 3. Instructions (valgrind callgrind) inside one full validation (criterion's --profile-time
#    on assertion/full/ES256 and request_object/full/ES256, collection limited to
#    `Bench::full`): inclusive share of each jargate function and of ring.
#
# Needs: linux-perf, valgrind (installed from Debian when missing), wrk, nginx, haproxy.
# Writes $OUT/profile/*.txt and prints a summary.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${OUT:-$ROOT/bench-out}
W=$OUT/load
P=$OUT/profile
DURATION=${DURATION:-6}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET_DIR/release/jargate
LUA=$ROOT/benches/load/bodies.lua
log() { echo "[profile] $*" >&2; }

[ -f "$W/jargate.toml" ] && [ -f "$OUT/pool/assertion-RS256.txt" ] || {
  log "run benches/load.sh first (configs and token pools)"
  exit 1
}
need=()
command -v perf >/dev/null || need+=(linux-perf)
command -v valgrind >/dev/null || need+=(valgrind)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
mkdir -p "$P"

# shellcheck source=load/after.sh
. "$ROOT/benches/load/after.sh"
start_upstream "$JG_PORT" "$HA_PORT"

start() { # $1 = jargate | haproxy-plain | haproxy-RS256
  case $1 in
    jargate) RUST_LOG=warn "$BIN" serve --config "$W/jargate.toml" >/dev/null 2>&1 & ;;
    haproxy-*) haproxy -db -f "$W/$1.cfg" >/dev/null 2>&1 & ;;
  esac
  SRV=$!
  KIND=$1
  sleep 1.5
}
stop() {
  # jargate exits at once on SIGINT; HAProxy, started in the background, ignores SIGINT.
  if [ "$KIND" = jargate ]; then kill -INT "$SRV" 2>/dev/null || true; else kill "$SRV" 2>/dev/null || true; fi
  local running
  for _ in $(seq 1 50); do
    running=$(cat /proc/"$SRV"/task/*/stat 2>/dev/null | sed 's/.*) //' | cut -d' ' -f1 | grep -v Z || true)
    [ -z "$running" ] && break
    sleep 0.1
  done
  kill -9 "$SRV" 2>/dev/null || true # still running 5 s after the signal
  wait "$SRV" 2>/dev/null || true
  SRV=
}
load() { # $1 port $2 lines $3 path -> prints requests
  wrk -t2 -c64 -d"${DURATION}s" -s "$LUA" "http://127.0.0.1:$1" -- "$OUT/pool/$2.txt" post "$3" 0 2 |
    grep -o 'requests=[0-9]*' | cut -d= -f2
}

# --- 1. per-request syscalls, context switches, CPU --------------------------------------------
{
  echo "| server under test | req/s | syscalls / req | context switches / req | CPU µs / req | top syscalls / req |"
  echo "|---|---:|---:|---:|---:|---|"
} >"$P/per-request.md"
for setup in "jargate passthrough|jargate|$JG_PORT|assertion-ES256|/plain" \
  "HAProxy passthrough|haproxy-plain|$HA_PORT|assertion-ES256|/plain" \
  "jargate RS256 assertion|jargate|$JG_PORT|assertion-RS256|/oauth/token" \
  "HAProxy jwt_verify RS256|haproxy-RS256|$HA_PORT|assertion-RS256|/oauth/token"; do
  IFS='|' read -r name server port lines path <<<"$setup"
  start "$server"
  tids=$(ls "/proc/$SRV/task" | paste -sd,)
  perf stat -x, -o "$P/stat.txt" -e 'syscalls:sys_enter_*' -e context-switches -e task-clock \
    -t "$tids" -- sleep "$DURATION.3" &
  stat=$!
  requests=$(load "$port" "$lines" "$path")
  wait $stat
  stop
  awk -F, -v r="$requests" -v d="$DURATION" -v name="$name" '
    /^#/ || NF < 3 { next }
    $3 ~ /^syscalls:sys_enter_/ { s = substr($3, 20); n[s] = $1; total += $1; next }
    $3 == "context-switches" { cs = $1 }
    $3 == "task-clock" { cpu = $1 }
    END {
      top = ""
      for (k = 0; k < 4; k++) { best = ""; for (s in n) if (best == "" || n[s] > n[best]) best = s
        if (best != "") { top = top sprintf("%s %.2f, ", best, n[best] / r); delete n[best] } }
      printf "| %s | %.0f | %.2f | %.2f | %.1f | %s |\n", name, r / d, total / r, cs / r,
        cpu * 1000 / r, substr(top, 1, length(top) - 2)
    }' "$P/stat.txt" >>"$P/per-request.md"
done
cat "$P/per-request.md"

# --- 2. perf record of jargate validating RS256 -------------------------------------------------
start jargate
(load $JG_PORT assertion-RS256 /oauth/token >/dev/null) &
loader=$!
sleep 1
perf record -F 999 -g --call-graph dwarf,32768 -p "$SRV" -o "$P/perf-rs256.data" -- sleep 4 \
  >/dev/null 2>&1
wait $loader
stop
log "perf report (DWARF unwinding takes a minute)"
perf report -i "$P/perf-rs256.data" --no-children --sort dso,symbol --stdio -g none \
  --percent-limit 0.8 2>/dev/null | grep -v '^#' | grep -v '^$' | sed 's/  */ /g' |
  cut -c1-150 >"$P/perf-rs256-self.txt"
perf report -i "$P/perf-rs256.data" --children --sort symbol --stdio -g none 2>/dev/null |
  grep -E 'gate::decide|Jws::signature|ring::rsa::verification::verify_rsa_|Jws::decoded|jose::json::parse|rules::check::stages|read_params|insert_once|read_body|request_filter::|upstream_request_filter|logging::|proxy_to_upstream::|process_new_http|do_syscall_64|malloc$|_int_free|__memmove' |
  sed 's/  */ /g' | cut -c1-150 >"$P/perf-rs256-inclusive.txt"
echo
echo "jargate, RS256 assertions at saturation: self time (perf, cpu-clock)"
head -25 "$P/perf-rs256-self.txt"
echo
echo "inclusive (children) share of selected frames"
cat "$P/perf-rs256-inclusive.txt"

# --- 3. callgrind on one validation ------------------------------------------------------------
cargo bench --bench validation --no-run >&2 2>/dev/null || cargo bench --bench validation --no-run
VB=$(ls -t "$TARGET_DIR"/release/deps/validation-* | grep -v '\.d$' | head -1)
for bench in assertion/full/ES256 assertion/full/RS256 request_object/full/ES256; do
  file=$P/callgrind-${bench//\//-}.out
  JARGATE_BENCH_PAIRED=0 valgrind --tool=callgrind --callgrind-out-file="$file" \
    --toggle-collect='*Bench::full*' "$VB" --bench --profile-time 2 "$bench" >/dev/null 2>&1
  echo
  echo "callgrind, $bench: inclusive instruction share (collection inside Bench::full)"
  callgrind_annotate --inclusive=yes --threshold=100 "$file" 2>/dev/null |
    grep -E 'jargate::|ring::digest::digest |EcdsaVerificationAlgorithm as ring|verify_rsa_|serde_json::de::Deserializer|base64::engine::Engine::decode|_int_malloc|cfree|jti_key' |
    grep -v 'jargate::rules::assertion::check_assertion \[' | sed -E 's#/[^ ]*/(src|benches)/#\1/#' |
    sed -E 's/ \[[^]]*\]$//' | cut -c1-160 | head -22 | tee "$P/callgrind-${bench//\//-}.txt" || true
done
