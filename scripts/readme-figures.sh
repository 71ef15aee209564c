#!/usr/bin/env bash
# Regenerates docs/figures (the README's plots) from the shipped experiments
# and models; takes a few seconds after the build.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=target/release/loopcap
out=results/readme
rm -rf "$out"
mkdir -p docs/figures
for experiment in experiments/*.toml; do
  "$bin" sweep "$experiment" --out "$out/$(basename "$experiment" .toml)" 2>/dev/null
done
"$bin" run models/research-agent-burst.toml --out "$out/research-agent-burst" >/dev/null
"$bin" plot "$out/research-agent-burst/timeseries.csv" --out "$out/research-agent-burst" >/dev/null

copy() { cp "$out/$1.png" "docs/figures/$2.png"; }
copy amplification-surge/line-attempts_per_min-workload_users_users amplification-surge-requests
copy amplification-surge/line-loops_per_min-workload_users_users amplification-surge-loops
copy burst-into-cap/latency-loop_latency_s-capacity_max_concurrency burst-into-cap
copy shared-vs-reserved/line-loops_per_min-workload_developers_users shared-vs-reserved-throughput
copy shared-vs-reserved/latency-loop_latency_s-workload_developers_users shared-vs-reserved-latency
copy shared-vs-reserved/line-loops_per_dollar-workload_developers_users shared-vs-reserved-cost
copy parallel-agents-throttle/line-loops_per_min-workload_agents_users parallel-agents-throttle
copy retry-policies/bar-attempts-client_backoff retry-policies-attempts
copy retry-policies/bar-loop_latency_s_max-client_backoff retry-policies-drain
copy lane-sizing/heatmap-loop_latency_s_p99-capacity_lanes lane-sizing
copy metastable-retry/goodput-over-time metastable-goodput
copy metastable-retry/recover-or-stuck metastable-boundary
copy research-agent-burst/timeseries research-agent-timeseries
copy surge-shared-vs-reserved/bar-windows_surge-developers-1_loop_latency_s_p99-plan surge-shared-vs-reserved-p99
echo "docs/figures: $(ls docs/figures | wc -l) figures"
