#!/usr/bin/env bash
# Checks that the working tree's loopcap writes byte-identical outputs to
# those of an earlier revision (default: HEAD) for every shipped model and
# experiment: the check behind a refactor's "behaviour stays the same".
# Usage: scripts/same-outputs.sh [REV]
# Exits 1 and prints the differing files when any output differs.
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:-HEAD}
base=target/same-outputs
rm -rf "$base"
mkdir -p "$base"
git worktree add --detach --force "$base/tree" "$rev" >/dev/null
trap 'git worktree remove --force "$base/tree"' EXIT
(cd "$base/tree" && CARGO_TARGET_DIR=../target cargo build --release --quiet)
cargo build --release --quiet
scripts/outputs.sh "$base/target/release/loopcap" "$base/before"
scripts/outputs.sh target/release/loopcap "$base/after"
if diff -rq "$base/before" "$base/after"; then
  echo "same outputs as $rev: $(find "$base/after" -type f | wc -l) files"
else
  echo "outputs differ from $rev (see diff -r $base/before $base/after)" >&2
  exit 1
fi
