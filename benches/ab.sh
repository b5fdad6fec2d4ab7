#!/usr/bin/env bash
# Two jargate binaries (or two settings) side by side: saturation req/s of each, in interleaved
# rounds (A B A B ...), each round a fresh process, so that a change of the machine's load
# affects both alike. Prints the median of each and the ratio B / A per setup.
#
#   A=old/jargate B=target/release/jargate bash benches/ab.sh        # after benches/load.sh
#   A=... B=... B_ENV="JARGATE_X=1" ROUNDS=5 SETUPS="passthrough RS256" bash benches/ab.sh
#
# Uses load.sh's configuration, nginx upstream and token pools (a fresh process has an empty
# jti store, so the pool's lines are valid again in every round). Knobs: ROUNDS (default 3),
# DURATION (s, default 4), SETUPS (passthrough RS256 ES256 request-ES256), A_ENV / B_ENV
# (environment assignments for one side), OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/bench-out}
W=$OUT/load
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-4}
SETUPS=${SETUPS:-passthrough RS256 ES256 request-ES256}
LUA=$PWD/benches/load/bodies.lua
: "${A:?A=path of the first jargate binary}" "${B:?B=path of the second}"
[ -f "$W/jargate.toml" ] || { echo "run benches/load.sh first" >&2; exit 1; }
# shellcheck source=load/after.sh
. "$PWD/benches/load/after.sh"
start_upstream "$JG_PORT" "$JG_ADMIN"

run() { # $1 binary $2 environment $3 setup; prints req/s
  local lines mode path
  case $3 in
    passthrough) lines=assertion-ES256 mode=post path=/plain ;;
    RS256 | ES256) lines=assertion-$3 mode=post path=/oauth/token ;;
    request-ES256) lines=request-ES256 mode=get path=- ;;
  esac
  env RUST_LOG=info $2 "$1" serve --config "$W/jargate.toml" >"$W/jargate.log" 2>&1 &
  SRV=$!
  for _ in $(seq 1 200); do
    curl -fs "http://127.0.0.1:$JG_ADMIN/healthz" >/dev/null 2>&1 && break
    sleep 0.05
  done
  wrk -t2 -c64 -d"${DURATION}s" -s "$LUA" "http://127.0.0.1:$JG_PORT" \
    -- "$OUT/pool/$lines.txt" "$mode" "$path" 0 2 | grep -o 'rps=[0-9.]*' | cut -d= -f2
  kill -INT "$SRV"
  wait "$SRV" 2>/dev/null || true
  SRV=
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

echo "| setup | A req/s (median of $ROUNDS) | B req/s | B / A | rounds A | rounds B |"
echo "|---|---:|---:|---:|---|---|"
for setup in $SETUPS; do
  a=() b=()
  for _ in $(seq 1 "$ROUNDS"); do
    a+=("$(run "$A" "${A_ENV:-}" "$setup")")
    b+=("$(run "$B" "${B_ENV:-}" "$setup")")
  done
  ma=$(printf '%s\n' "${a[@]}" | median)
  mb=$(printf '%s\n' "${b[@]}" | median)
  echo "| $setup | $ma | $mb | $(awk -v a="$ma" -v b="$mb" 'BEGIN { printf "%.3f", b / a }') | ${a[*]} | ${b[*]} |"
done
