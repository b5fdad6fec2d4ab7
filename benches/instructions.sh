#!/usr/bin/env bash
# Instructions per request of the whole jargate process (every thread: workers, the log
# writer, the file watcher), counted by valgrind's callgrind while wrk sends requests at a
# modest rate. Unlike req/s, the count does not move with the load of a shared machine, so
# it compares two builds (an allocator, a writer) or two settings run minutes apart.
#
#   bash benches/instructions.sh            # after benches/load.sh (its configs and pools)
#   BIN=path/to/other/jargate bash benches/instructions.sh
#
# For each setup (passthrough, RS256 and ES256 assertions, ES256 request objects): jargate
# under callgrind with RUST_LOG=info and its stderr in a file next to its configuration (as
# load.sh runs it); a warm-up, then collection on for $DURATION s of wrk -t1 -c$CONNECTIONS;
# instructions / request, and the functions with the largest inclusive share
# ($OUT/instructions/<setup>.txt). Prints a table (also $OUT/instructions.md).
#
# Knobs: BIN, DURATION (default 6), CONNECTIONS (default 8), TOP (functions listed, 30),
# SETUPS (space-separated subset of: passthrough RS256 ES256 request-ES256), OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${OUT:-$ROOT/bench-out}
W=$OUT/load
I=$OUT/instructions
BIN=${BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/jargate}
DURATION=${DURATION:-6}
CONNECTIONS=${CONNECTIONS:-8}
TOP=${TOP:-30}
SETUPS=${SETUPS:-passthrough RS256 ES256 request-ES256}
LUA=$ROOT/benches/load/bodies.lua
log() { echo "[instructions] $*" >&2; }

[ -f "$W/jargate.toml" ] && [ -f "$OUT/pool/assertion-RS256.txt" ] || {
  log "run benches/load.sh first (configs and token pools)"
  exit 1
}
command -v valgrind >/dev/null || {
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends valgrind >/dev/null
}
mkdir -p "$I"
# shellcheck source=load/after.sh
. "$ROOT/benches/load/after.sh"
start_upstream "$JG_PORT"

# wrk against jargate; prints the number of requests answered.
send() { # $1 lines $2 mode $3 path $4 seconds
  wrk -t1 -c"$CONNECTIONS" -d"${4}s" -s "$LUA" "http://127.0.0.1:$JG_PORT" \
    -- "$OUT/pool/$1.txt" "$2" "$3" 0 1 | grep -o 'WRK_RESULT requests=[0-9]*' | cut -d= -f2
}

{
  echo "Instructions per request of the whole jargate process (callgrind, $(basename "$BIN"), RUST_LOG=info, log file next to the configuration; wrk -t1 -c$CONNECTIONS for $DURATION s)."
  echo
  echo "| setup | requests | instructions / request | of which, per request (share) |"
  echo "|---|---:|---:|---|"
} >"$OUT/instructions.md"
for setup in $SETUPS; do
  case $setup in
    passthrough) lines=assertion-ES256 mode=post path=/plain ;;
    RS256 | ES256) lines=assertion-$setup mode=post path=/oauth/token ;;
    request-ES256) lines=request-ES256 mode=get path=- ;;
    *) log "unknown setup $setup"; exit 1 ;;
  esac
  file=$I/callgrind-$setup.out
  rm -f "$file"
  RUST_LOG=info valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$file" \
    --log-file="$I/valgrind-$setup.log" \
    "$BIN" serve --config "$W/jargate.toml" >"$W/jargate.log" 2>&1 &
  SRV=$!
  for _ in $(seq 1 600); do
    curl -fs "http://127.0.0.1:$JG_ADMIN/healthz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  # Warm-up (connections, pools, caches), then count only the measured phase. A single-use
  # pool line sent twice would be a replay: the warm-up takes lines from the end of the file.
  tail -n 500 "$OUT/pool/$lines.txt" >"$I/warm.txt"
  wrk -t1 -c"$CONNECTIONS" -d2s -s "$LUA" "http://127.0.0.1:$JG_PORT" \
    -- "$I/warm.txt" "$mode" "$path" 0 1 >/dev/null
  callgrind_control -i on "$SRV" >/dev/null
  requests=$(send "$lines" "$mode" "$path" "$DURATION")
  callgrind_control -i off "$SRV" >/dev/null
  kill -INT "$SRV"
  wait "$SRV" 2>/dev/null || true
  SRV=
  python3 - "$file" "$requests" "$setup" "$I/$setup.txt" "$TOP" >>"$OUT/instructions.md" <<'EOF2'
import re, subprocess, sys
path, requests, setup, listing, top = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
def rows(*args):
    out = subprocess.run(["callgrind_annotate", *args, path], capture_output=True, text=True).stdout
    for line in out.splitlines():
        m = re.match(r"^\s*([0-9,]+) \(\s*([0-9.]+)%\)\s+(?:\*\s+)?(.*?)(?: \[[^]]*\])?$", line)
        if m:
            yield int(m.group(1).replace(",", "")), m.group(3)
total = next((n for n, name in rows() if name == "PROGRAM TOTALS"), 0)
inclusive = [(n, re.sub(r"^(\?\?\?|[^ ]*/)[^:]*:", "", name)) for n, name in rows("--inclusive=yes")]
exclusive = [(n, re.sub(r"^(\?\?\?|[^ ]*/)[^:]*:", "", name)) for n, name in rows()]
with open(listing, "w") as f:
    f.write(f"{setup}: {total} instructions, {requests} requests\n\ninclusive:\n")
    for n, name in inclusive[:top]:
        f.write(f"{n / requests:10.0f} /req {100 * n / total:5.1f}%  {name}\n")
    f.write("\nself:\n")
    for n, name in exclusive[:top]:
        f.write(f"{n / requests:10.0f} /req {100 * n / total:5.1f}%  {name}\n")
# Where the instructions of a request go: a few inclusive groups, and the allocator's self cost.
def incl(pattern):
    return max((n for n, name in inclusive if re.search(pattern, name)), default=0)
alloc = sum(n for n, name in exclusive
            if re.search(r"^(_int_)?(malloc|free|realloc|calloc)$|malloc_consolidate|^cfree|^_?mi_|^mi_|je_|tcache", name))
groups = [
    ("signature", incl(r"PublicKey::verify$")),
    # With LTO, gate::decide is inlined into the hook: the hook's share is what is reported.
    ("request_filter (route, read, decide)", incl(r"ProxyHttp>::request_filter::\{\{closure\}\}$")),
    ("log lines", incl(r"fmt_layer::Layer<.*> as tracing_subscriber::layer::Layer<S>>::on_event$")),
    ("file watcher", incl(r"notify::inotify::EventLoop::(run|handle_inotify)$")),
    ("memcpy", sum(n for n, name in exclusive if "memcpy" in name or "memmove" in name)),
    ("allocator (self)", alloc),
]
shares = "; ".join(f"{label} {n / requests:.0f} ({100 * n / total:.0f} %)" for label, n in groups if n)
print(f"| {setup} | {requests} | {total / requests:.0f} | {shares} |")
EOF2
  log "$setup: $requests requests, $(tail -1 "$OUT/instructions.md" | cut -d'|' -f4) instructions / request"
done
cat "$OUT/instructions.md"
