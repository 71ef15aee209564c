#!/usr/bin/env bash
# A sweep sharded as a real Slurm job array (scripts/slurm-sweep.sh) must
# merge into exactly the files the same sweep writes in one go. Starts a
# local single-node Slurm with ../shared/tools if none is running (needs root).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tools=$root/../shared/tools
# LOOPCAP_BIN, if set, is the binary to test (CI's, built by the tests).
bin=${LOOPCAP_BIN:-}
if [ -z "$bin" ]; then
  cargo build --release --quiet --manifest-path "$root/Cargo.toml"
  bin=$root/target/release/loopcap
fi
experiment=$(realpath "$root/tests/data/small-sweep.toml")
tmp=$(mktemp -d)
started=0
cleanup() {
  if [ "$started" = 1 ]; then "$tools/stop-local-slurm.sh" >/dev/null 2>&1 || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

if ! sinfo >/dev/null 2>&1; then
  "$tools/start-local-slurm.sh"
  started=1
fi

"$bin" sweep "$experiment" --out "$tmp/whole" >/dev/null 2>&1
WAIT=1 LOOPCAP=$bin "$root/scripts/slurm-sweep.sh" "$experiment" "$tmp/sharded" 3

cd "$tmp/whole"
compared=0
for f in runs.csv points.csv manifest.json *.png *.svg; do
  cmp "$tmp/whole/$f" "$tmp/sharded/$f"
  compared=$((compared + 1))
done
[ "$compared" -ge 7 ] || { echo "slurm test: expected at least 7 output files, compared $compared" >&2; exit 1; }
echo "slurm test: 3 shards on Slurm merged into the same $compared files as the unsharded sweep"
