#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each, one after the other, on the stable toolchain
# (`--sanitizer none`: no nightly-only flag is needed). Fails on the first crash, leak-free
# panic or timeout; the input that caused it is in fuzz/artifacts/<target>/.
#
#   fuzz/run.sh 30                 # every target, 30 s each (what CI runs)
#   fuzz/run.sh 1800 decide        # one target, 30 minutes
#   FUZZ_DEV=1 fuzz/run.sh 15      # unoptimised build: compiles in a fraction of the time (CI)
set -euo pipefail
cd "$(dirname "$0")"

seconds="${1:?usage: fuzz/run.sh SECONDS [TARGET...]}"
shift
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(path params json jws decide config registry)
fi

flags=(--sanitizer none)
if [ -n "${FUZZ_DEV:-}" ]; then
  flags+=(--dev)
fi
cargo fuzz build "${flags[@]}"

for target in "${targets[@]}"; do
  mkdir -p "corpus/$target" "artifacts/$target"
  log="$(mktemp)"
  # -timeout: one input taking over 10 s is a failure (parsing must stay linear).
  if ! cargo fuzz run "${flags[@]}" "$target" "corpus/$target" -- \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -dict=oauth.dict -print_final_stats=1 \
      >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "fuzz: $target FAILED (input in fuzz/artifacts/$target/)" >&2
    exit 1
  fi
  runs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)"
  echo "fuzz: $target ok: ${runs:-?} executions in ${seconds} s"
  rm -f "$log"
done
