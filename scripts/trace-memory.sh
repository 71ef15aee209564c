#!/usr/bin/env bash
# Replays generated request traces of 10^6 and 10^7 rows (Poisson
# arrivals over one hour, random tokens; awk with a fixed seed) into an
# API that limits nothing, and prints each run's peak resident memory:
# the file is read row by row, so memory does not grow with its length.
# About 30 s after the build, and 220 MB of /tmp.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
for rows in 1000000 10000000; do
  awk -v n="$rows" 'BEGIN {
    srand(1); print "s,in,out"; t = 0
    for (i = 0; i < n; i++) {
      t += -log(1 - rand()) * 3600 / n
      printf "%.6f,%d,%d\n", t, 100 + int(rand() * 3900), 1 + int(rand() * 300)
    }
  }' > "$dir/trace.csv"
  cat > "$dir/model.toml" <<MODEL
name = "$rows rows"
seed = 1
duration = "1h"
[[workload]]
name = "requests"
agent = "a"
trace = { file = "trace.csv", format = "csv", columns = { time = "s", time_unit = "s", input = "in", output = "out" } }
[agents.a]
steps = 1
input_tokens = 1
output_tokens = 1
max_output_tokens = 512
[capacity]
kind = "shared_api"
time_to_first_token = "1s"
output_tokens_per_s = 100
MODEL
  printf '%9d rows: ' "$rows"
  target/release/loopcap run "$dir/model.toml" | awk '/started/ { s = $2 } /peak memory/ { print s " loops started, peak memory " $3 " " $4 }'
done
