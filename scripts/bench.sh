#!/usr/bin/env bash
# Prints every figure of the guide's Performance chapter (docs/guide/10-performance.md):
#   1. M/M/10 side by side: the hand-written reference loop, loopcap's engine
#      alone, models/mmc.toml through the full model path (benches/compare.rs),
#      and the coding-agent model's events and loops per second; (1b) the
#      model path's instructions per completed customer, under callgrind;
#   2. SimPy on the same queue (benches/simpy_mmc.py), if it is installed;
#   3. peak resident memory at 10^6 and 10^8 events;
#   4. a sweep of 432 runs on one thread and on two, and (4b) the README's
#      sizing search with short runs and with long ones;
#   5. events/s as the population grows from 10^3 to 10^6 users
#      (benches/population.rs), and each size's peak memory.
# Takes about ten minutes after the build. Ratios come from runs taken
# turn about in this one session, as medians, since the machine is shared.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --profile dist --quiet
bin=target/dist/loopcap
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

echo "== 1. speed, side by side"
cargo bench --quiet --bench compare 2>/dev/null | tee "$tmp/compare.txt"

echo
echo "== 1b. instructions per completed customer: models/mmc.toml for 20 hours, under callgrind"
# The wall-clock ratio above moves with whatever else the host runs; the
# instruction count does not.
if command -v valgrind >/dev/null; then
  valgrind --tool=callgrind --callgrind-out-file=/dev/null \
    "$bin" run models/mmc.toml --set duration=20h >"$tmp/callgrind-run" 2>"$tmp/callgrind"
  instructions=$(awk '/Collected :/ { print $NF }' "$tmp/callgrind")
  customers=$(awk '/^  started/ { print $5 }' "$tmp/callgrind-run")
  awk -v i="$instructions" -v c="$customers" \
    'BEGIN { printf "%d instructions for %d completed customers: %.0f a customer\n", i, c, i / c }'
else
  echo "skipped: valgrind is not installed"
fi

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
# Each round times the sweep on one thread, on two, and as two one-thread
# processes each running half the runs (--shard): the most two cores give
# this machine at that moment, the ceiling for the two-thread figure.
now() { date +%s.%N; }
sweep() { "$bin" sweep experiments/metastable-retry.toml --out "$tmp/sweep-$1" "${@:2}" >/dev/null 2>&1; }
for round in 1 2 3 4 5; do
  a=$(now)
  sweep "1-$round" --threads 1
  b=$(now)
  sweep "2-$round" --threads 2
  c=$(now)
  sweep "s0-$round" --threads 1 --shard 0/2 &
  sweep "s1-$round" --threads 1 --shard 1/2
  wait
  d=$(now)
  awk -v a="$a" -v b="$b" -v c="$c" -v d="$d" \
    'BEGIN { printf "%.3f %.3f %.3f %.3f %.3f\n", b - a, c - b, d - c, (b - a) / (c - b), (b - a) / (d - c) }' \
    >>"$tmp/sweeps"
done
# Medians of each column: a busy spell on the shared machine slows the
# rounds it falls in, not the medians.
column() { awk -v k="$2" '{ print $k }' "$1" | median; }
# Each round's value of column $2 of file $1, on one line.
rounds() { awk -v k="$2" '{ printf "%.2f ", $k }' "$1" | sed 's/ $//'; }
cmp -s "$tmp/sweep-1-1/runs.csv" "$tmp/sweep-2-1/runs.csv" && same=identical || same=DIFFERENT
printf "1 thread %.2f s; 2 threads %.2f s, %.2fx (rounds: %s); 2 processes %.2f s, %.2fx\n" \
  "$(column "$tmp/sweeps" 1)" "$(column "$tmp/sweeps" 2)" "$(column "$tmp/sweeps" 4)" \
  "$(rounds "$tmp/sweeps" 4)" \
  "$(column "$tmp/sweeps" 3)" "$(column "$tmp/sweeps" 5)"
echo "runs.csv on 1 and on 2 threads: $same"

echo
echo "== 4b. the README's sizing search (8 probes of 10 replications) on one thread and on two, 9 rounds"
# A probe's replications run side by side, and the search waits for the
# last of them before it picks the next probe: a search of short runs
# loses about half a run a probe. So it is timed as the README gives it
# (4-hour runs of a few milliseconds) and with runs 8.75 times as long.
size() {
  "$bin" size models/coding-agents-reserved.toml --slo 'loop_latency_s.p99 <= 25m' \
    --slo 'loops_failed_share <= 1%' --over capacity.lanes=1..64 "$@"
}
for duration in 4h 35h; do
  for round in 1 2 3 4 5 6 7 8 9; do
    a=$(now)
    size --set "duration=$duration" --threads 1 >"$tmp/size-1"
    b=$(now)
    size --set "duration=$duration" --threads 2 >"$tmp/size-2"
    c=$(now)
    awk -v a="$a" -v b="$b" -v c="$c" 'BEGIN { printf "%.3f %.3f %.3f\n", b - a, c - b, (b - a) / (c - b) }' \
      >>"$tmp/size-$duration"
  done
  cmp -s "$tmp/size-1" "$tmp/size-2" && same=identical || same=DIFFERENT
  printf "duration=%s: 1 thread %.2f s; 2 threads %.2f s, %.2fx (rounds: %s); output on 1 and on 2 threads: %s\n" \
    "$duration" "$(column "$tmp/size-$duration" 1)" "$(column "$tmp/size-$duration" 2)" \
    "$(column "$tmp/size-$duration" 3)" "$(rounds "$tmp/size-$duration" 3)" "$same"
done

echo
echo "== 5. population: models/coding-agents-reserved.toml, 10^3 to 10^6 users, a lane each"
cargo bench --quiet --bench population 2>/dev/null | grep -A5 '^models/coding-agents-reserved'
echo "peak memory of the whole process, one simulated hour from the start:"
for users in 1000 10000 100000 1000000; do
  "$bin" run models/coding-agents-reserved.toml --set "workload.developers.users=$users" \
    --set "capacity.lanes=$users" --set duration=1h --set warmup=0s |
    awk -v u="$users" '/^  events/ { e = $2 } /peak memory/ { printf "%10d users %12d events %9s MiB\n", u, e, $3 }' |
    tee -a "$tmp/population"
done
awk 'NR == 1 { u0 = $1; m0 = $5 } END { printf "%.0f bytes a user (10^3 to 10^6 users)\n", ($5 - m0) * 1048576 / ($1 - u0) }' \
  "$tmp/population"
printf "and flat in the horizon: 100,000 users for 4 hours: "
"$bin" run models/coding-agents-reserved.toml --set workload.developers.users=100000 \
  --set capacity.lanes=100000 --set duration=4h --set warmup=0s |
  awk '/^  events/ { e = $2 } /peak memory/ { printf "%d events, %s MiB\n", e, $3 }'
