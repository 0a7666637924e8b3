#!/usr/bin/env bash
# interactive.sh: how fast the commands a finance team types are, on a
# database holding a large close. Prints each figure (median of several
# runs, whole process: start, open, query, print, exit) and writes them to
# bench/results/interactive.txt.
#
#   bash bench/interactive.sh [LINES] [PARTNERS]     (default 1000000 10000)
#
# Targets (issue 4): one approve < 10 ms, payouts list --status
# pending_approval < 50 ms, stats < 50 ms, approve --all-pending of 10k
# payouts < 0.5 s. The close itself is timed too, once.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
commit=$(bench_commit)
lines=${1:-1000000}
partners=${2:-10000}
build=build-bench
work=bench/work
results=bench/results/interactive.txt

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DPAYRUN_TESTS=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" -- --no-print-directory >/dev/null
cc -O2 -o "$build/measure" bench/measure.c
measure="$build/measure"
payrun="$PWD/$build/core/payrun"

rm -rf "$work"
mkdir -p "$work" bench/results
"$build/tools/payrun-gen" --partners "$partners" --lines "$lines" --period 2026-02 --seed 1 --dir "$work"
cat >"$work/payrun.yaml" <<YAML
version: 1
org: bench
currency: USD
database: bench.db
plugin_path: [$PWD/$build/plugins]
allow_actor_override: true
actors: { alice: [preparer], bob: [approver], carol: [approver] }
pipelines:
  close:
$(demo_close_stages "attributions-{period}.csv" partners.csv)
    - stage: approvals
      plugin: approval_rules
      with: { reject_inactive_partners: true }
    - stage: export
      plugin: export_csv
      with: { path: payouts.csv }
YAML
cfg="$work/payrun.yaml"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# time_cmd N CMD...: median wall seconds of N runs
time_cmd() {
  local n=$1; shift
  for _ in $(seq "$n"); do "$measure" "$@" | cut -d' ' -f1; done | median
}

read -r close_wall close_cpu close_rss close_rc < <("$measure" "$payrun" run close --period 2026-02 --config "$cfg" --as alice)
[ "$close_rc" = 0 ] || { echo "bench: the close failed (exit $close_rc)"; exit 1; }
cp "$work/bench.db" "$work/fresh.db"
payouts=$(sqlite3 "$work/bench.db" "SELECT count(*) FROM payouts WHERE status='pending_approval'")

ids=$(sqlite3 "$work/bench.db" "SELECT id FROM payouts WHERE status='pending_approval' ORDER BY id LIMIT 7")
approve=$(for id in $ids; do "$measure" "$payrun" approve "$id" --config "$cfg" --as bob | cut -d' ' -f1; done | median)
list=$(time_cmd 7 "$payrun" payouts list --status pending_approval --config "$cfg")
stats=$(time_cmd 7 "$payrun" stats --config "$cfg")
bulk=$(for _ in 1 2 3; do
  cp "$work/fresh.db" "$work/bench.db"; rm -f "$work/bench.db-wal" "$work/bench.db-shm"
  "$measure" "$payrun" approve --all-pending --config "$cfg" --as carol | cut -d' ' -f1
done | median)

ms() { awk -v s="$1" 'BEGIN { printf "%.1f ms", s * 1000 }'; }
{
  echo "payrun interactive benchmark, $(date -u +%Y-%m-%d), $(nproc) cores, payrun $commit (Release build)"
  echo "data: $lines attribution lines, $partners partners; $payouts payouts pending after the close"
  echo "close (once):                       wall $(printf '%.2f' "$close_wall") s, cpu $(printf '%.2f' "$close_cpu") s, peak RSS $((close_rss / 1024)) MiB"
  echo "approve ID (median of 7):           $(ms "$approve")   target < 10 ms"
  echo "payouts list --status pending (7):  $(ms "$list")   target < 50 ms"
  echo "stats (median of 7):                $(ms "$stats")   target < 50 ms"
  echo "approve --all-pending (3):          $(ms "$bulk")   target < 500 ms for 10k payouts"
} | tee "$results"
