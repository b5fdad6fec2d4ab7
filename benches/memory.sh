#!/usr/bin/env bash
# Memory benchmark of jargate:
#   1. RSS of an idle `jargate serve` (after /healthz answers 200) with 1 registered client, and
#      with 10 000 registered clients, each with one ES256 PEM credential (one public key, inline
#      PEM, repeated: every client's key is parsed and checked on its own all the same); with
#      10 000, also the peak (VmHWM) of the start-up load and of a reload of the same registry
#      (SIGHUP: the new snapshot is built while the old one serves) over the loaded RSS;
#   2. RSS of the single-use store holding 1 000 000 live `jti` entries: benches/jti_memory.rs
#      inserts them into store::memory::MemoryStore (keys as the gate builds them) and reads its
#      own VmRSS. (This measures the store in a process of its own, not the running proxy:
#      sending a million valid assertions through the proxy would take minutes of signing.)
#
#   bash benches/memory.sh          # about 1 minute once built
#
# Needs cargo and curl. Writes $OUT/memory.md (also printed) and $OUT/memory.csv.
# Knobs: CLIENTS (default 10000), JTI (default 1000000), NO_BUILD=1, OUT (default bench-out).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${OUT:-$ROOT/bench-out}
W=$OUT/memory
CLIENTS=${CLIENTS:-10000}
JTI=${JTI:-1000000}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=${BIN:-$TARGET_DIR/release/jargate}
PORT=18181
ADMIN=18191
log() { echo "[memory] $*" >&2; }

command -v curl >/dev/null || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null
}
if [ "${NO_BUILD:-0}" = 1 ] && [ -x "$BIN" ]; then
  log "NO_BUILD=1: using $BIN as it is"
else
  log "building jargate --release"
  cargo build --release --bin jargate >&2
fi
mkdir -p "$W"
log "writing clients-$CLIENTS.json"
JARGATE_GEN_DIR=$W JARGATE_GEN_CLIENTS=$CLIENTS cargo bench --bench gen >&2
# One client: the first entry of the same file.
python3 - "$W/clients-$CLIENTS.json" "$W/clients-1.json" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
json.dump({"clients": doc["clients"][:1]}, open(sys.argv[2], "w"))
EOF

status_kib() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"; }

PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null || true' EXIT

# Prints "rss_kib hwm_kib threads startup_ms reload_rss_kib reload_hwm_kib" of an idle jargate
# with the given registry (the reload figures 0 unless $2 = reload).
idle_rss() { # $1 = clients file, $2 = reload to also reload it once
  cat >"$W/jargate.toml" <<EOF
[listen]
proxy = "127.0.0.1:$PORT"
admin = "127.0.0.1:$ADMIN"
[upstream]
url = "http://127.0.0.1:18180"
[issuer]
identifier = "https://login.example.com/"
[clients]
file = "$(basename "$1")"
EOF
  local started ready
  started=$(date +%s%N)
  RUST_LOG=info "$BIN" serve --config "$W/jargate.toml" >>"$W/jargate.log" 2>&1 &
  PID=$!
  for _ in $(seq 1 600); do
    curl -fs "http://127.0.0.1:$ADMIN/healthz" >/dev/null 2>&1 && break
    sleep 0.05
  done
  curl -fs "http://127.0.0.1:$ADMIN/healthz" >/dev/null || { log "jargate is not healthy"; exit 1; }
  ready=$(date +%s%N)
  sleep 2 # idle: let start-up allocations settle
  local rss hwm threads reload_rss=0 reload_hwm=0
  rss=$(status_kib $PID VmRSS) hwm=$(status_kib $PID VmHWM) threads=$(status_kib $PID Threads)
  if [ "${2:-}" = reload ]; then
    local before
    before=$(grep -c 'configuration reloaded' "$W/jargate.log" || true)
    kill -HUP "$PID"
    for _ in $(seq 1 600); do
      [ "$(grep -c 'configuration reloaded' "$W/jargate.log" || true)" -gt "$before" ] && break
      sleep 0.05
    done
    [ "$(grep -c 'configuration reloaded' "$W/jargate.log" || true)" -gt "$before" ] ||
      { log "the reload did not finish"; exit 1; }
    sleep 2 # the old snapshot is released once no request holds it
    reload_rss=$(status_kib $PID VmRSS) reload_hwm=$(status_kib $PID VmHWM)
  fi
  echo "$rss $hwm $threads $(((ready - started) / 1000000)) $reload_rss $reload_hwm"
  kill "$PID"
  wait "$PID" 2>/dev/null || true
  PID=
}

read -r rss1 hwm1 thr1 ms1 _ _ <<<"$(idle_rss "$W/clients-1.json")"
log "1 client: VmRSS $rss1 KiB"
read -r rssn hwmn thrn msn rssr hwmr <<<"$(idle_rss "$W/clients-$CLIENTS.json" reload)"
log "$CLIENTS clients: VmRSS $rssn KiB, VmHWM $hwmn KiB; after a reload: VmRSS $rssr KiB, VmHWM $hwmr KiB"

log "inserting $JTI jti into MemoryStore"
jti_line=$(JARGATE_JTI_COUNT=$JTI cargo bench --bench jti_memory 2>/dev/null | grep '^jti_memory:')
field() { echo "$jti_line" | grep -o " $1=[0-9.]*" | cut -d= -f2; }

mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
jti_rss=$(field rss_after_mib)
verdict() { awk -v v="$1" -v t="$2" 'BEGIN { print (v <= t ? "met" : "NOT met") }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
{
  echo "Memory, $(nproc) cores ($thrn threads in jargate serve), load average $(cut -d' ' -f1-3 /proc/loadavg)."
  echo
  echo "| measurement | RSS MiB | peak (VmHWM) MiB | note | target |"
  echo "|---|---:|---:|---|---|"
  echo "| jargate serve idle, 1 client | $(mib "$rss1") | $(mib "$hwm1") | healthy after ${ms1} ms | |"
  echo "| jargate serve idle, $CLIENTS clients (ES256 PEM each) | $(mib "$rssn") | $(mib "$hwmn") | healthy after ${msn} ms | ≤ 64 MiB: $(verdict "$(mib "$rssn")" 64) |"
  echo "| the same, after a reload (SIGHUP) | $(mib "$rssr") | $(mib "$hwmr") | peak $(ratio "$hwmr" "$rssn") × the loaded RSS | ≤ 2 ×: $(verdict "$(ratio "$hwmr" "$rssn")" 2) |"
  echo "| MemoryStore with $JTI live jti (own process) | $jti_rss | $(field vm_hwm_mib) | $(field bytes_per_entry) B/entry, $(field ns_per_insert) ns/insert, keys of $(field key_bytes) B | ≤ 256 MiB: $(verdict "$jti_rss" 256) |"
} | tee "$OUT/memory.md"
{
  echo "measurement,rss_mib,hwm_mib"
  echo "idle_1_client,$(mib "$rss1"),$(mib "$hwm1")"
  echo "idle_${CLIENTS}_clients,$(mib "$rssn"),$(mib "$hwmn")"
  echo "reload_${CLIENTS}_clients,$(mib "$rssr"),$(mib "$hwmr")"
  echo "store_${JTI}_jti,$jti_rss,$(field vm_hwm_mib)"
} >"$OUT/memory.csv"
