#!/usr/bin/env bash
# Writes every output whose bytes a refactor must not change, for one loopcap
# binary: each shipped model's summary.json (wall-clock fields dropped) and
# timeseries.csv, and each shipped experiment's runs.csv and points.csv.
# Usage: scripts/outputs.sh BIN OUTDIR   (see scripts/same-outputs.sh)
set -euo pipefail
bin=$(realpath "$1")
out=$2
cd "$(dirname "$0")/.."
rm -rf "$out"
mkdir -p "$out/models" "$out/experiments"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Models and experiments may share a name: each has its own directory.
mkdir -p "$tmp/models" "$tmp/experiments"
for model in models/*.toml; do
  name=$(basename "$model" .toml)
  "$bin" run "$model" --out "$tmp/models/$name" >/dev/null
  grep -v -e '"wall_s"' -e '"events_per_s"' "$tmp/models/$name/summary.json" >"$out/models/$name.summary.json"
  cp "$tmp/models/$name/timeseries.csv" "$out/models/$name.timeseries.csv"
done
for experiment in experiments/*.toml; do
  name=$(basename "$experiment" .toml)
  "$bin" sweep "$experiment" --out "$tmp/experiments/$name" >/dev/null 2>"$tmp/stderr" ||
    { cat "$tmp/stderr" >&2; exit 1; }
  cp "$tmp/experiments/$name/runs.csv" "$out/experiments/$name.runs.csv"
  cp "$tmp/experiments/$name/points.csv" "$out/experiments/$name.points.csv"
done
