#!/usr/bin/env bash
# Replays generated request traces of 10^6 and 10^7 rows (Poisson
# arrivals over one hour, random tokens; awk with a fixed seed) into an
# API that limits nothing, and prints each run's peak resident memory:
# the file is read row by row, so memory does not grow with its length.
# Then 10^7 rows in 500,000 sessions of 20 calls (a session column): read
# as they replay too, with each session's row count held (from `check`).
# About a minute after the build, and 500 MB of /tmp.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
replay() {
  cat > "$dir/model.toml" <<MODEL
name = "$1"
seed = 1
duration = "1h"
[[workload]]
name = "requests"
agent = "a"
trace = { file = "trace.csv", format = "csv", columns = { time = "s", time_unit = "s", input = "in", output = "out"$2 } }
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
  printf '%s: ' "$1"
  target/release/loopcap run "$dir/model.toml" | awk '/started/ { s = $2 } /peak memory/ { print s " loops started, peak memory " $3 " " $4 }'
}
for rows in 1000000 10000000; do
  awk -v n="$rows" 'BEGIN {
    srand(1); print "s,in,out"; t = 0
    for (i = 0; i < n; i++) {
      t += -log(1 - rand()) * 3600 / n
      printf "%.6f,%d,%d\n", t, 100 + int(rand() * 3900), 1 + int(rand() * 300)
    }
  }' > "$dir/trace.csv"
  replay "$rows rows" ""
done
# Sessions start over the hour; their calls are 5 s apart on average.
awk 'BEGIN {
  srand(2); print "s,sid,in,out"
  for (k = 0; k < 500000; k++) {
    t = rand() * 3600
    for (c = 0; c < 20; c++) {
      printf "%.6f,s%d,%d,%d\n", t, k, 100 + int(rand() * 3900), 1 + int(rand() * 300)
      t += -log(1 - rand()) * 5
    }
  }
}' > "$dir/unsorted.csv"
{ head -1 "$dir/unsorted.csv"; tail -n +2 "$dir/unsorted.csv" | sort -t, -k1,1g; } > "$dir/trace.csv"
rm "$dir/unsorted.csv"
replay "10000000 rows in 500000 sessions" ', session = "sid"'
