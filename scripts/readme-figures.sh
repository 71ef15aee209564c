#!/usr/bin/env bash
# Regenerates docs/figures (the README's plots) and docs/results (each
# shipped experiment's points.csv, which the README's numbers are checked
# against by tests/integration/readme.rs) from the shipped experiments and
# models; takes a few seconds after the build.
#
# --check regenerates the sweeps and fails if any points.csv differs from
# docs/results, without touching the repository: CI runs it, so the README's
# numbers cannot drift from what the code computes.
set -euo pipefail
cd "$(dirname "$0")/.."
# LOOPCAP_BIN, if set, is the binary to run (CI's, built by the tests).
bin=${LOOPCAP_BIN:-}
if [[ -z $bin ]]; then
  cargo build --release --quiet
  bin=target/release/loopcap
fi
out=results/readme
rm -rf "$out"
for experiment in experiments/*.toml; do
  "$bin" sweep "$experiment" --out "$out/$(basename "$experiment" .toml)" 2>/dev/null >/dev/null
done
if [[ "${1:-}" == "--check" ]]; then
  status=0
  for experiment in experiments/*.toml; do
    name=$(basename "$experiment" .toml)
    if ! cmp -s "$out/$name/points.csv" "docs/results/$name.csv"; then
      echo "docs/results/$name.csv differs from what $experiment gives now: run scripts/readme-figures.sh and update the README's numbers" >&2
      status=1
    fi
  done
  # The guide's `compare` example quotes the differences compare prints
  # (the B − A column; columns are two or more spaces apart), unsigned.
  compared=$("$bin" compare "$out/surge-shared-vs-reserved:0" "$out/surge-shared-vs-reserved:3")
  for metric in loops_failed_share loop_latency_s.p99; do
    diff=$(grep -F "windows.surge-developers-1.$metric " <<< "$compared" | awk -F '  +' '{ print $5 }')
    if [[ -z $diff ]] || ! grep -qF "${diff#[+-]}" docs/guide/01-commands.md; then
      echo "docs/guide/01-commands.md does not quote compare's $metric difference '$diff'" >&2
      status=1
    fi
  done
  [[ $status == 0 ]] && echo "docs/results: every experiment's points.csv is as committed; the guide's compare example is what compare prints"
  exit $status
fi
mkdir -p docs/figures docs/results
for experiment in experiments/*.toml; do
  name=$(basename "$experiment" .toml)
  cp "$out/$name/points.csv" "docs/results/$name.csv"
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
copy hybrid-sizing/line-cost_per_loop_usd-workload_developers_users hybrid-sizing-cost
copy hybrid-sizing/line-loop_latency_s_p99-workload_developers_users hybrid-sizing-p99
copy batch-offload/bar-classes_developers_loop_latency_s_p99-plan batch-offload-developers
copy batch-offload/bar-cost_usd-plan batch-offload-cost
copy batch-size-tradeoff/line-pools_capacity_output_tokens_per_s-workload_clients_users batch-size-throughput
copy batch-size-tradeoff/line-loop_latency_s_p50-workload_clients_users batch-size-latency
copy autoscale-cold-start/bar-windows_surge-developers-1_loop_latency_s_p99-plan autoscale-cold-start-p99
copy azure-code-replay/bar-loops_failed_share-plan azure-code-replay-failed
copy azure-code-replay/bar-loop_latency_s_p99-plan azure-code-replay-p99
copy cache-ttl/bar-cost_per_loop_usd-workload_developers_think_time_mean cache-ttl-cost
copy cache-hit-rate/line-loops_failed_share-agents_coding_cached_input_share cache-hit-rate-failed
copy model-mix-limits/line-by_model_haiku_rate_limited-workload_developers_users model-mix-haiku-429s
copy model-mix-limits/latency-loop_latency_s-workload_developers_users model-mix-latency
echo "docs/figures: $(ls docs/figures | wc -l) figures"
