#!/usr/bin/env bash
# partners.sh: the close's peak memory when one partner has many of the
# lines (issue 6: at most 64 MiB whatever the input). close.sh spreads its
# lines over 10,000 partners; a finance team may have one partner with
# most of them, and the calculation works one partner at a time.
#
#   bash bench/partners.sh [LINES [PARTNERS...]]   (default: 1000000 lines;
#                                                   10000 100 10 1 partners)
#
# For each number of partners it generates LINES lines (period 2026-02,
# seed 3) into bench/work/partners-P/, closes them once from a clean state
# with close.sh's pipeline (bench/common.sh: write_config), and prints the
# stored lines of the largest partner, wall and CPU time and peak RSS
# (bench/measure.c). It writes the same table to bench/results/partners.txt.
# Any non-zero exit fails the run. One close per row: the figure that
# matters here is memory, which does not vary from run to run as time does.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
root=$PWD
build=build-bench
period=2026-02
results=bench/results/partners.txt
lines=${1:-1000000}
shift $(( $# > 0 ? 1 : 0 ))
if [ $# -gt 0 ]; then counts=("$@"); else counts=(10000 100 10 1); fi
for n in "$lines" "${counts[@]}"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "partners.sh: \"$n\" is not a positive number" >&2; exit 1; }
done
for tool in cc cmake sqlite3; do
  command -v "$tool" >/dev/null || { echo "partners.sh: $tool not found; run scripts/deps.sh" >&2; exit 1; }
done

echo "partners.sh: building a Release payrun into $build" >&2
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DPAYRUN_TESTS=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" -- --no-print-directory >/dev/null
cc -O2 -o "$build/measure" bench/measure.c
measure="$root/$build/measure"
payrun="$root/$build/core/payrun"
commit=$(bench_commit)
mkdir -p bench/results

rows=()
for p in "${counts[@]}"; do
  dir=bench/work/partners-$p
  rm -rf "$dir"
  mkdir -p "$dir/run"
  echo "partners.sh: $lines lines over $p partners into $dir" >&2
  "$build/tools/payrun-gen" --partners "$p" --lines "$lines" --period "$period" --seed 3 --dir "$dir"
  write_config "$dir" "$root/$build/plugins"
  read -r wall cpu rss rc < <("$measure" "$payrun" run close --period "$period" \
                                --config "$dir/payrun.yaml" --as alice)
  [ "$rc" = 0 ] || { echo "partners.sh: the close of $p partners exited $rc" >&2; exit 1; }
  largest=$(sqlite3 "$dir/run/bench.db" \
    "SELECT max(n) FROM (SELECT count(*) AS n FROM attribution_lines GROUP BY partner_id)")
  rows+=("$(printf '%10s %16s %9.2f %9.2f %9.1f' "$p" "$largest" "$wall" "$cpu" \
             "$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')")")
done

{
  echo "payrun partners benchmark: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, payrun $commit (Release build)"
  echo "data: $lines lines, period $period, seed 3; one close each, from a clean state; close.sh's pipeline"
  echo "wall and cpu (user + system) in seconds, peak RSS in MiB"
  echo
  printf '%10s %16s %9s %9s %9s\n' partners "largest (lines)" wall cpu rss
  printf '%s\n' "${rows[@]}"
  echo
  echo "target (issue 6): peak RSS <= 64 MiB whatever the input"
} | tee "$results"
