#!/usr/bin/env bash
# The own streaming histogram against the hdrhistogram crate's, on the hot
# path of models/mmc.toml: events/s over interleaved rounds (median of the
# per-round ratios) and, where valgrind is installed, instructions counted by
# callgrind (repeatable whatever else the machine does). About 6 minutes:
# two release builds, then the runs.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-9}
dir=target/bench-histogram
mkdir -p "$dir"
cargo build --release --quiet && cp target/release/loopcap "$dir/own"
cargo build --release --quiet --features hdrhistogram && cp target/release/loopcap "$dir/hdr"
cargo build --release --quiet # leave the default binary in place
for r in $(seq "$rounds"); do
  for b in own hdr; do
    "$dir/$b" run models/mmc.toml --set duration=200h --json |
      python3 -c "import json,sys; print($r, '$b', json.load(sys.stdin)['events_per_s'])"
  done
done >"$dir/rounds.txt"
python3 - "$dir/rounds.txt" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    r, b, v = line.split()
    runs.setdefault(r, {})[b] = float(v)
ratios = [x["own"] / x["hdr"] for x in runs.values()]
med = lambda b: statistics.median(x[b] for x in runs.values()) / 1e6
print(f"mmc.toml 200 h, {len(runs)} rounds: own {med('own'):.2f}M events/s, "
      f"hdrhistogram {med('hdr'):.2f}M; own/hdr median {statistics.median(ratios):.3f} "
      f"(rounds {min(ratios):.3f}-{max(ratios):.3f})")
PY
if command -v valgrind >/dev/null; then
  for b in own hdr; do
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$dir/$b" run models/mmc.toml \
      --set duration=20h --json 2>&1 >/dev/null | sed -n "s/.*Collected : /$b instructions (mmc.toml 20 h): /p"
  done
fi
