#!/usr/bin/env bash
# Load benchmark of jargate, on one machine, in one run: the upstream alone, two plain proxies,
# HAProxy 2.6 validating client assertions with jwt_verify, and jargate validating client
# assertions and request objects, one setup after another, against the same upstream with the
# same request bodies.
#
#   bash benches/load.sh            # full run, about 5 minutes (first run: + 4 min signing)
#   QUICK=1 bash benches/load.sh    # about 2 minutes, shorter phases, fewer setups
#
# Needs (installed from Debian when missing, as root): wrk, nginx-light, haproxy (2.6 on
# bookworm: `apt-cache policy haproxy`), gnuplot-nox, python3; and cargo. Builds jargate
# --release and the token generator (benches/gen.rs), then pre-generates unique signed client
# assertions and request objects in bench-out/pool (reused while still valid, < 22 h old).
#
# jargate runs as users run it: decision lines on (RUST_LOG=info), stderr written to a file in
# the directory of its configuration (which it watches for changes).
#
# Every setup is measured twice, each time in a freshly started server process:
#   1. saturation: wrk -t2 -c64 for $DURATION s, as fast as it goes: requests/s, p99, non-2xx
#      answers, CPU seconds per 1000 requests (utime+stime of the server under test), CPU busy
#      of all processes of the setup (server, upstream, wrk) in cores, peak RSS (VmHWM);
#   2. latency: the same at a fixed rate, one third of HAProxy's jwt_verify saturation rate for
#      the setup's algorithm (RS256's for the setups without one; LAT_RATE overrides):
#      p50/p99/p99.9.
# Then benches/memory.sh (RSS with 10 000 registered clients, registry reload peak), and the
# targets as ratios of this run (benches/load_report.py).
# Each request body is sent once (benches/load/bodies.lua): no request is a replay.
# Latency tool: wrk2 is not in Debian and oha (crates.io) sends one fixed body, so every request
# after the first would be a replay. wrk's Lua cycles the unique bodies and paces them to the
# fixed total rate (a per-thread schedule in delay()); wrk times each request from its write, so
# the figures are service latency at that offered rate, without coordinated-omission correction
# (at half saturation, with 64 connections, the queueing that would hide is small).
#
# Knobs (environment): QUICK=1, DURATION (s), LAT_DURATION (s), LAT_RATE (req/s), THREADS,
# CONNECTIONS, POOL (tokens per pool), NO_BUILD=1 (use the jargate binary already built; BIN=
# another binary, with NO_BUILD=1),
# PORT_BASE (default 18080: nginx, +1 jargate, +2 HAProxy, +11 jargate admin),
# JARGATE_LOG (RUST_LOG of jargate, default info: a decision line per request; the full run
# has one row with warn, for the cost of those lines), NO_MEMORY=1 (skip memory.sh),
# OUT (default bench-out).
#
# Results: $OUT/load.csv, $OUT/load.md (the markdown table, also printed), $OUT/load.png,
# raw wrk lines in $OUT/load/results.txt. The machine's cores are shared by the load generator,
# the proxy and the upstream: figures are comparable within one run, not across machines.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${OUT:-$ROOT/bench-out}
W=$OUT/load
POOLDIR=$OUT/pool
QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
  DURATION=${DURATION:-4}
  LAT_DURATION=${LAT_DURATION:-3}
  POOL=${POOL:-60000}
else
  DURATION=${DURATION:-10}
  LAT_DURATION=${LAT_DURATION:-10}
  POOL=${POOL:-200000}
fi
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
PORT_BASE=${PORT_BASE:-18080}
UP_PORT=$PORT_BASE
JG_PORT=$((PORT_BASE + 1))
HA_PORT=$((PORT_BASE + 2))
JG_ADMIN=$((PORT_BASE + 11))
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=${BIN:-$TARGET_DIR/release/jargate}
LUA=$ROOT/benches/load/bodies.lua
ISSUER="https://login.example.com/"
log() { echo "[load] $*" >&2; }

# --- tools -----------------------------------------------------------------------------------
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || need+=(nginx-light)
command -v haproxy >/dev/null || need+=(haproxy)
command -v gnuplot >/dev/null || need+=(gnuplot-nox)
command -v python3 >/dev/null || need+=(python3)
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]} from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # nginx's package starts a system service on port 80; it is not the one measured here.
  service nginx stop >/dev/null 2>&1 || true
fi
HAPROXY_VERSION=$(haproxy -v | awk 'NR == 1 {print $3}')
case $HAPROXY_VERSION in
  2.6.*) ;;
  *) log "warning: HAProxy $HAPROXY_VERSION, not 2.6 (the peer this benchmark names)" ;;
esac

# --- build -----------------------------------------------------------------------------------
if [ "${NO_BUILD:-0}" = 1 ] && [ -x "$BIN" ]; then
  log "NO_BUILD=1: using $BIN as it is"
else
  log "building jargate --release"
  cargo build --release --bin jargate >&2
fi

mkdir -p "$W" "$POOLDIR"
: >"$W/results.txt"

# --- token pools -----------------------------------------------------------------------------
POOLS=(assertion:RS256 assertion:ES256 request:ES256)
[ "$QUICK" = 1 ] || POOLS+=(assertion:PS256 assertion:EdDSA request:RS256)
gen=()
for p in "${POOLS[@]}"; do
  f=$POOLDIR/${p/:/-}.meta
  if [ -f "$f" ] && read -r _ exp count <"$f" && [ "$count" -ge "$POOL" ] &&
    [ $((exp - $(date +%s))) -gt 7200 ]; then
    log "reusing pool ${p} ($count tokens)"
  else
    gen+=("$p=$POOL")
  fi
done
if [ ${#gen[@]} -gt 0 ] || [ ! -f "$POOLDIR/clients.json" ]; then
  log "signing ${gen[*]:-nothing} (RSA takes about 1 ms a token per core)"
  JARGATE_GEN_DIR=$POOLDIR JARGATE_GEN_POOLS=$(IFS=,; echo "${gen[*]:-}") \
    cargo bench --bench gen >&2
fi

# --- configurations --------------------------------------------------------------------------
TOKEN_JSON='{"access_token":"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJiZW5jaCJ9.c2lnbmF0dXJl","token_type":"Bearer","expires_in":3600,"scope":"read write"}'
mkdir -p "$W/nginx"
cat >"$W/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $W/nginx/nginx.pid;
error_log $W/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  client_max_body_size 64k;
  client_body_buffer_size 64k;
  large_client_header_buffers 4 32k;
  client_body_temp_path $W/nginx/body;
  proxy_temp_path $W/nginx/proxy;
  fastcgi_temp_path $W/nginx/fastcgi;
  uwsgi_temp_path $W/nginx/uwsgi;
  scgi_temp_path $W/nginx/scgi;
  default_type application/json;
  server {
    listen 127.0.0.1:$UP_PORT backlog=4096;
    location / { return 200 '$TOKEN_JSON'; }
  }
}
EOF

cp "$POOLDIR/clients.json" "$W/clients.json"
cat >"$W/jargate.toml" <<EOF
# Defaults, except: the token lifetimes allow pre-generated tokens (valid up to 24 h), and
# the store holds more than a run sends.
[listen]
proxy = "127.0.0.1:$JG_PORT"
admin = "127.0.0.1:$JG_ADMIN"
[upstream]
url = "http://127.0.0.1:$UP_PORT"
[issuer]
identifier = "$ISSUER"
[limits]
assertion_max_lifetime_secs = 86400
request_object_max_lifetime_secs = 86400
[store]
max_entries = 4000000
[clients]
file = "clients.json"
EOF

haproxy_conf() { # $1 = plain | RS256 | ES256
  local file=$W/haproxy-$1.cfg
  cat >"$file" <<EOF
global
  nbthread 2
  maxconn 4096
defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
frontend fe
  bind 127.0.0.1:$HA_PORT
  default_backend up
EOF
  if [ "$1" != plain ]; then
    local client key
    case $1 in
      RS256) client=bench-rs256 key=$ROOT/tests/keys/rsa-a.pub.pem ;;
      ES256) client=bench-es256 key=$ROOT/tests/keys/ec-a.pub.pem ;;
    esac
    cat >>"$file" <<EOF
  # What a platform team writes instead of jargate: alg, iss, sub, aud, exp and the signature
  # of the client assertion in the form body (no jti store, lifetime, size or header rules).
  option http-buffer-request
  acl token path /oauth/token
  http-request set-var(txn.ca) req.body_param(client_assertion) if token
  http-request deny deny_status 401 if token !{ var(txn.ca) -m found }
  http-request set-var(txn.alg) var(txn.ca),jwt_header_query('\$.alg') if token
  http-request deny deny_status 401 if token !{ var(txn.alg) -m str $1 }
  http-request set-var(txn.iss) var(txn.ca),jwt_payload_query('\$.iss') if token
  http-request deny deny_status 401 if token !{ var(txn.iss) -m str $client }
  http-request set-var(txn.sub) var(txn.ca),jwt_payload_query('\$.sub') if token
  http-request deny deny_status 401 if token !{ var(txn.sub) -m str $client }
  http-request set-var(txn.aud) var(txn.ca),jwt_payload_query('\$.aud') if token
  http-request deny deny_status 401 if token !{ var(txn.aud) -m str $ISSUER }
  http-request set-var(txn.exp) var(txn.ca),jwt_payload_query('\$.exp','int') if token
  http-request set-var(txn.now) date() if token
  http-request deny deny_status 401 if token { var(txn.exp),sub(txn.now) -m int le 0 }
  http-request deny deny_status 401 if token !{ var(txn.ca),jwt_verify(txn.alg,"$key") -m int 1 }
EOF
  fi
  cat >>"$file" <<EOF
backend up
  server up 127.0.0.1:$UP_PORT
EOF
  echo "$file"
}

# --- processes -------------------------------------------------------------------------------
CLK_TCK=$(getconf CLK_TCK)
SERVER_PID=
SERVER_KIND=
UP_PID=
cleanup() {
  [ -n "$SERVER_PID" ] && kill -INT "$SERVER_PID" 2>/dev/null && kill "$SERVER_PID" 2>/dev/null || true
  [ -n "$UP_PID" ] && kill "$UP_PID" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT

wait_port() { # $1 port
  for _ in $(seq 1 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  log "nothing listens on port $1"
  return 1
}

# utime+stime of a process and its children processes (nginx workers), in ticks.
cpu_ticks() {
  local total=0 p
  for p in "$1" $(pgrep -P "$1" || true); do
    [ -r "/proc/$p/stat" ] || continue
    total=$((total + $(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
  done
  echo "$total"
}

# Peak RSS (VmHWM, KiB) of a process, or of its largest child for nginx.
hwm_kib() {
  local max=0 p v
  for p in "$1" $(pgrep -P "$1" || true); do
    v=$(awk '/^VmHWM:/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
    [ "${v:-0}" -gt "$max" ] && max=$v
  done
  echo "$max"
}

start_upstream() {
  port_free $UP_PORT
  nginx -c "$W/nginx.conf" -p "$W/nginx" >"$W/nginx/stdout.log" 2>&1 &
  UP_PID=$!
  wait_port $UP_PORT
}

# Pingora and HAProxy listen with SO_REUSEPORT: a server left over from an interrupted run
# would silently take part of the load. Refuse to measure then.
port_free() { # $1 port
  if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
    log "port $1 is busy (a server left from an earlier run?): $(ss -ltnpH "sport = :$1" | head -1)"
    exit 1
  fi
}

start_server() { # $1 = server kind; sets SERVER_PID (the upstream's pid for "nginx")
  SERVER_KIND=$1
  case $1 in
    nginx) SERVER_PID= ;;
    jargate*)
      port_free $JG_PORT
      local level=${JARGATE_LOG:-info}
      # jargate-warn: without the decision line of every request.
      [ "$1" = jargate-warn ] && level=warn
      RUST_LOG=$level "$BIN" serve --config "$W/jargate.toml" >"$W/jargate.log" 2>&1 &
      SERVER_PID=$!
      for _ in $(seq 1 200); do
        curl -fs "http://127.0.0.1:$JG_ADMIN/healthz" >/dev/null 2>&1 && break
        sleep 0.05
      done
      curl -fs "http://127.0.0.1:$JG_ADMIN/healthz" >/dev/null || { log "jargate is not healthy"; exit 1; }
      ;;
    haproxy-*)
      port_free $HA_PORT
      haproxy -db -f "$(haproxy_conf "${1#haproxy-}")" >>"$W/haproxy.log" 2>&1 &
      SERVER_PID=$!
      wait_port $HA_PORT
      ;;
  esac
}

alive() { # $1 pid: some thread still runs (when the main thread has exited, the process
  # shows as a zombie while its other threads go on)
  local t state
  for t in /proc/"$1"/task/*/stat; do
    state=$(sed 's/.*) //' "$t" 2>/dev/null | cut -d' ' -f1)
    [ -n "$state" ] && [ "$state" != Z ] && return 0
  done
  return 1
}

stop_server() {
  if [ -n "$SERVER_PID" ]; then
    # SIGINT: jargate exits at once (SIGTERM drains for read_timeout + 1 s). A background job
    # of a non-interactive shell starts with SIGINT ignored, and HAProxy keeps it so: SIGTERM
    # (HAProxy's hard stop) for it. Whatever still runs 5 s later is killed, and said so.
    case $SERVER_KIND in
      jargate*) kill -INT "$SERVER_PID" 2>/dev/null || true ;;
      *) kill -TERM "$SERVER_PID" 2>/dev/null || true ;;
    esac
    for _ in $(seq 1 50); do
      alive "$SERVER_PID" || break
      sleep 0.1
    done
    if alive "$SERVER_PID"; then
      log "$SERVER_KIND (pid $SERVER_PID) still runs 5 s after the stop signal: SIGKILL"
      echo "meta|stop_killed_$SERVER_KIND=1" >>"$W/results.txt"
      kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
  fi
}

# --- setups ----------------------------------------------------------------------------------
# name | server | port | lines file | mode | POST path | single use (a line sent twice would
# be refused as a replay: the pool must last the phase) | algorithm whose HAProxy rate sets
# the fixed rate of the latency phase
SETUPS=(
  "upstream direct (nginx)|nginx|$UP_PORT|assertion-ES256|post|/oauth/token|0|RS256"
  "jargate passthrough|jargate|$JG_PORT|assertion-ES256|post|/plain|0|RS256"
  "HAProxy passthrough|haproxy-plain|$HA_PORT|assertion-ES256|post|/plain|0|RS256"
  "HAProxy jwt_verify RS256|haproxy-RS256|$HA_PORT|assertion-RS256|post|/oauth/token|0|RS256"
  "HAProxy jwt_verify ES256|haproxy-ES256|$HA_PORT|assertion-ES256|post|/oauth/token|0|ES256"
  "jargate assertion RS256|jargate|$JG_PORT|assertion-RS256|post|/oauth/token|1|RS256"
  "jargate assertion ES256|jargate|$JG_PORT|assertion-ES256|post|/oauth/token|1|ES256"
)
if [ "$QUICK" != 1 ]; then
  SETUPS+=(
    "jargate assertion PS256|jargate|$JG_PORT|assertion-PS256|post|/oauth/token|1|RS256"
    "jargate assertion EdDSA|jargate|$JG_PORT|assertion-EdDSA|post|/oauth/token|1|RS256"
    "jargate assertion RS256, RUST_LOG=warn|jargate-warn|$JG_PORT|assertion-RS256|post|/oauth/token|1|RS256"
    "upstream direct GET /authorize|nginx|$UP_PORT|request-ES256|get|-|0|ES256"
    "jargate request object RS256|jargate|$JG_PORT|request-RS256|get|-|1|RS256"
  )
fi
SETUPS+=("jargate request object ES256|jargate|$JG_PORT|request-ES256|get|-|1|ES256")

# Busy jiffies of the whole machine (every core), from /proc/stat: the noise of other work.
machine_busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }

# Ticks of every process of the setup: the server, wrk, and the upstream (when it is not the
# server itself: nginx direct).
setup_ticks() { # $1 server pid $2 wrk pid
  local total=$(($(cpu_ticks "$1") + $(cpu_ticks "$2")))
  [ "$1" = "$UP_PID" ] || total=$((total + $(cpu_ticks "$UP_PID")))
  echo "$total"
}

# One phase of one setup in a fresh server; appends a line to results.txt.
measure() { # $1 phase (sat|lat) $2 rate $3 duration $4 setup
  local name server port lines mode path single peer
  IFS='|' read -r name server port lines mode path single peer <<<"$4"
  start_server "$server"
  local pid=${SERVER_PID:-$UP_PID}
  local c0 u0 c1 u1 result wpid
  c0=$(cpu_ticks "$pid")
  u0=$(cpu_ticks "$UP_PID")
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"${3}s" -s "$LUA" "http://127.0.0.1:$port" \
    -- "$POOLDIR/$lines.txt" "$mode" "$path" "$2" "$THREADS" >"$W/wrk.out" &
  wpid=$!
  # CPU busy of the setup (server, upstream and wrk, in cores) over a window inside the load:
  # from a moment after the server starts working (wrk's second thread is still reading its
  # pool, Lua work that is not load, when the first one starts) to 1 s before wrk stops; and
  # of the whole machine over the same window (other work on the cores shows there).
  local t w0 w1 m0 m1 n0 n1 skip window
  skip=$(awk -v d="$3" 'BEGIN { print (d >= 6 ? 1 : 0.5) }')
  window=$(awk -v d="$3" -v s="$skip" 'BEGIN { printf "%.1f", d - s - 1 }')
  t=$(cpu_ticks "$pid")
  for _ in $(seq 1 400); do
    [ "$(cpu_ticks "$pid")" -gt $((t + 2)) ] && break
    sleep 0.05
  done
  sleep "$skip"
  w0=$(setup_ticks "$pid" "$wpid")
  m0=$(machine_busy_ticks) n0=$(date +%s%N)
  sleep "$window"
  w1=$(setup_ticks "$pid" "$wpid")
  m1=$(machine_busy_ticks) n1=$(date +%s%N)
  wait "$wpid" || true
  result=$(grep '^WRK_RESULT' "$W/wrk.out" || true)
  c1=$(cpu_ticks "$pid")
  u1=$(cpu_ticks "$UP_PID")
  local hwm
  hwm=$(hwm_kib "$pid")
  stop_server
  [ -n "$result" ] || { log "wrk printed no result for $name"; result="WRK_RESULT requests=0"; }
  # For nginx direct the server is the upstream: its ticks are not counted twice.
  local up_ticks=$((u1 - u0))
  [ "$server" = nginx ] && up_ticks=0
  echo "$1|$name|${result#WRK_RESULT } cpu_ticks=$((c1 - c0)) upstream_cpu_ticks=$up_ticks setup_busy_ticks=$((w1 - w0)) machine_busy_ticks=$((m1 - m0)) window_us=$(((n1 - n0) / 1000)) clk_tck=$CLK_TCK hwm_kib=$hwm rate=$2 single_use=$single peer=$peer load=$(cut -d' ' -f1 /proc/loadavg)" \
    >>"$W/results.txt"
  log "$1 $name: $(echo "$result" | grep -o 'rps=[0-9.]*') $(echo "$result" | grep -o 'non2xx=[0-9]*') $(echo "$result" | grep -o 'p99_us=[0-9]*')"
}

# The saturation rate of a setup in this run's results.
sat_rps() { grep "^sat|$1|" "$W/results.txt" | grep -o ' rps=[0-9.]*' | cut -d= -f2; }

start_upstream
echo "meta|started_at=$(date +%s)|jargate_log=${JARGATE_LOG:-info}|load_start=$(cut -d' ' -f1-3 /proc/loadavg)|cores=$(nproc)|haproxy=$HAPROXY_VERSION|wrk=-t$THREADS -c$CONNECTIONS|duration=$DURATION|lat_duration=$LAT_DURATION|quick=$QUICK" \
  >>"$W/results.txt"
log "load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"

for s in "${SETUPS[@]}"; do
  measure sat 0 "$DURATION" "$s"
done

# The fixed rate: one third of HAProxy's validating rate for the setup's algorithm.
third() { awk -v r="${1:-0}" 'BEGIN { printf "%d", r / 3 }'; }
RS_RATE=$(third "$(sat_rps "HAProxy jwt_verify RS256")")
ES_RATE=$(third "$(sat_rps "HAProxy jwt_verify ES256")")
log "latency phase at ${LAT_RATE:-$RS_RATE (RS256) / $ES_RATE (ES256)} req/s"
for s in "${SETUPS[@]}"; do
  rate=${LAT_RATE:-}
  if [ -z "$rate" ]; then
    case ${s##*|} in
      ES256) rate=$ES_RATE ;;
      *) rate=$RS_RATE ;;
    esac
  fi
  measure lat "$rate" "$LAT_DURATION" "$s"
done
echo "meta|load_end=$(cut -d' ' -f1-3 /proc/loadavg)|lat_rate_rs256=${LAT_RATE:-$RS_RATE}|lat_rate_es256=${LAT_RATE:-$ES_RATE}" >>"$W/results.txt"
kill "$UP_PID" 2>/dev/null || true
wait "$UP_PID" 2>/dev/null || true
UP_PID=

if [ "${NO_MEMORY:-0}" != 1 ]; then
  log "memory: benches/memory.sh"
  OUT=$OUT NO_BUILD=1 bash "$ROOT/benches/memory.sh" >&2
fi
python3 "$ROOT/benches/load_report.py" "$W/results.txt" "$OUT"
