#!/usr/bin/env bash
# Prints every figure of the README's Performance section:
#   1. M/M/10 side by side: the hand-written reference loop, loopcap's engine
#      alone, models/mmc.toml through the full model path (benches/compare.rs),
#      and the coding-agent model's events and loops per second;
#   2. SimPy on the same queue (benches/simpy_mmc.py), if it is installed;
#   3. peak resident memory at 10^6 and 10^8 events;
#   4. a sweep of 432 runs on one thread and on two.
# Takes about four minutes after the build. Ratios come from runs taken
# turn about in this one session, as medians, since the machine is shared.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=target/release/loopcap
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

echo "== 1. speed, side by side"
cargo bench --quiet --bench compare 2>/dev/null | tee "$tmp/compare.txt"

echo
echo "== 2. SimPy on the same queue"
if python3 -c 'import simpy' 2>/dev/null; then
  python3 benches/simpy_mmc.py 1000000 3 | tee "$tmp/simpy.txt"
  loopcap=$(awk '/models\/mmc.toml/ { sub("M", "", $(NF-2)); print $(NF-2) }' "$tmp/compare.txt")
  simpy=$(awk '{ print $3 }' "$tmp/simpy.txt")
  awk -v l="$loopcap" -v s="$simpy" \
    'BEGIN { printf "loopcap (models/mmc.toml) is %.0fx SimPy\n", l * 1e6 / (s * 1e3) }'
else
  echo "skipped: SimPy is not installed (pip install simpy)"
fi

echo
echo "== 3. peak memory: 10^6 events, then 10^8"
memory() {
  "$bin" run "models/$1" --set "duration=$2" |
    awk -v m="$1" '/^  events/ { e = $2 } /peak memory/ { printf "%-28s %11d events  %s MiB\n", m, e, $3 }'
}
memory mmc.toml 62500s
memory mmc.toml 6250000s
memory coding-agents-shared.toml 84h
memory coding-agents-shared.toml 8400h

echo
echo "== 4. sweep of experiments/metastable-retry.toml (432 runs), 5 rounds"
now() { date +%s.%N; }
for round in 1 2 3 4 5; do
  for threads in 1 2; do
    start=$(now)
    "$bin" sweep experiments/metastable-retry.toml --threads "$threads" \
      --out "$tmp/sweep-$threads-$round" >/dev/null 2>&1
    awk -v a="$start" -v b="$(now)" 'BEGIN { print b - a }' >>"$tmp/threads-$threads"
  done
done
# Each round's speed-up, then their median: a busy spell on the shared
# machine slows the rounds it falls in, not the median.
paste "$tmp/threads-1" "$tmp/threads-2" | awk '{ printf "%.2f\n", $1 / $2 }' >"$tmp/speedups"
cmp -s "$tmp/sweep-1-1/runs.csv" "$tmp/sweep-2-1/runs.csv" && same=identical || same=DIFFERENT
printf "1 thread %.2f s, 2 threads %.2f s (medians); speed-up %.2fx (median of %s); runs.csv %s\n" \
  "$(median <"$tmp/threads-1")" "$(median <"$tmp/threads-2")" "$(median <"$tmp/speedups")" \
  "$(sort -g "$tmp/speedups" | tr '\n' ' ' | sed 's/ $//')" "$same"
