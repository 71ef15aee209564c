#!/usr/bin/env bash
# Run a loopcap sweep on Slurm as a job array: N shards run in parallel, then
# a merge job (started only when every shard succeeded) writes into OUT_DIR
# exactly what one unsharded `loopcap sweep` would.
#
#   scripts/slurm-sweep.sh EXPERIMENT.toml OUT_DIR SHARDS [sbatch options...]
#
# Environment:
#   LOOPCAP  path to the loopcap binary, visible from every node (default: loopcap on PATH)
#   WAIT=1   block until the merge job has finished (sbatch --wait), and fail if it failed
#
# Each shard runs on --cpus-per-task CPUs (default 1) and writes
# OUT_DIR.shards/K; logs go to OUT_DIR.shards/slurm-K.log and
# OUT_DIR.shards/merge.log. A failed shard can be rerun alone with
# `loopcap sweep ... --shard K/N --resume`.
set -euo pipefail

if [ $# -lt 3 ]; then
  sed -n '2,16p' "$0" >&2
  exit 2
fi
experiment=$(realpath "$1")
out=$(realpath -m "$2")
shards=$3
shift 3
loopcap=${LOOPCAP:-$(command -v loopcap || true)}
[ -x "$loopcap" ] || { echo "slurm-sweep: set LOOPCAP to the loopcap binary" >&2; exit 2; }
loopcap=$(realpath "$loopcap")
case $shards in ''|*[!0-9]*|0) echo "slurm-sweep: SHARDS must be a positive whole number" >&2; exit 2 ;; esac

# The shards and logs go beside OUT_DIR: merge writes OUT_DIR whole, and
# refuses a directory that holds files it did not write.
work="$out.shards"
mkdir -p "$work"
# Check the experiment once here, so a bad file fails now rather than in N jobs.
"$loopcap" check "$experiment" >/dev/null

array=$(sbatch --parsable "$@" \
  --job-name=loopcap-sweep \
  --array="0-$((shards - 1))" \
  --output="$work/slurm-%a.log" \
  --wrap="\"$loopcap\" sweep \"$experiment\" --shard \$SLURM_ARRAY_TASK_ID/$shards --resume --threads \${SLURM_CPUS_PER_TASK:-1} --out \"$work/\$SLURM_ARRAY_TASK_ID\"")

dirs=""
for k in $(seq 0 $((shards - 1))); do dirs="$dirs \"$work/$k\""; done
wait_flag=()
[ "${WAIT:-0}" = 1 ] && wait_flag=(--wait)
merge=$(sbatch --parsable "$@" "${wait_flag[@]}" \
  --job-name=loopcap-merge \
  --dependency="afterok:$array" \
  --kill-on-invalid-dep=yes \
  --output="$work/merge.log" \
  --wrap="\"$loopcap\" merge $dirs --out \"$out\"")
echo "shards: job $array (array 0-$((shards - 1))); merge: job $merge; results in $out"
