#!/usr/bin/env bash
# close.sh: how fast a month-end close is, next to what a finance team
# would otherwise run and next to the least work any close must do (issue 6).
#
#   bash bench/close.sh [LINES...]      (default: 100000 1000000;
#                                        BENCH_LARGE=1 adds 10000000)
#   BENCH_ROUNDS=5 bash bench/close.sh  (rounds per size, at least 3; default 3)
#
# For each size it generates a deterministic data set (10,000 partners,
# period 2026-02, seed 1) into bench/work/LINES/ and runs, interleaved
# (a, b, c, d in each round) and from a clean state every time:
#   (a) payrun run close: attribution_csv, commission_rules (the demo's
#       rules, min_payout 100.00), approval_rules, export_csv,
#       export_ledger (hledger) and audit_jsonl, into a new database;
#   (b) the sqlite3 shell running bench/alternative.sql: .import of both
#       CSVs, one aggregate query, a CSV export, into a new database;
#   (c) the floor, bench/floor.c: libcsv parsing the attribution file and
#       SQLite inserting its rows (one prepared statement, one transaction);
#   (d) the layout bound, `floor --clustered`: the same, but each line is
#       stored with a commission in one b-tree clustered by (org, period,
#       partner, deal), from a copy of the file sorted by that key (the
#       sort is not timed). No layout that keeps every line and its
#       commission in SQLite can store them for less, so d/b is the least
#       a/b could be.
# Each is timed by bench/measure.c (wall, CPU = user + system, peak RSS of
# the process). It prints the medians, the ratios payrun/sqlite3,
# payrun/floor and bound/sqlite3 (wall) and payrun's time per line, and
# writes the same table to bench/results/close.txt. Any non-zero exit
# fails the whole run.
#
# Needs only what scripts/deps.sh installs: cc, cmake, the sqlite3 shell,
# libcsv and the SQLite headers.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
root=$PWD
build="build-bench"
partners=10000
period=2026-02
rounds=${BENCH_ROUNDS:-3}
results=bench/results/close.txt

die() { echo "close.sh: $*" >&2; exit 1; }

if [ $# -gt 0 ]; then
  sizes=("$@")
else
  sizes=(100000 1000000)
  [ "${BENCH_LARGE:-0}" = 1 ] && sizes+=(10000000)
fi
for n in "${sizes[@]}"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || die "a size is a number of lines, like 1000000; got \"$n\""
done
if ! [[ $rounds =~ ^[0-9]+$ ]] || [ "$rounds" -lt 3 ]; then
  die "BENCH_ROUNDS must be 3 or more; got \"$rounds\""
fi
for tool in cc cmake sqlite3; do
  command -v "$tool" >/dev/null || die "$tool not found; run scripts/deps.sh"
done

# Build: a Release payrun, the timer and the floor.
echo "close.sh: building a Release payrun into $build" >&2
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DPAYRUN_TESTS=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" -- --no-print-directory >/dev/null
cc -O2 -o "$build/measure" bench/measure.c
cc -std=c11 -O2 -Wall -Wextra -Werror -o "$build/floor" bench/floor.c -lcsv -lsqlite3
measure="$root/$build/measure"
payrun="$root/$build/core/payrun"
floor="$root/$build/floor"

started=$(date -u '+%Y-%m-%d %H:%M UTC')
load_start=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)
commit=$(bench_commit)


# run_one WHAT SIZE ROUND CMD...: time CMD; fail loudly on a non-zero exit.
# Prints "wall cpu maxrss_kib".
run_one() {
  local what=$1 n=$2 r=$3 wall cpu rss rc
  shift 3
  read -r wall cpu rss rc < <("$measure" "$@")
  [ "$rc" = 0 ] || die "$what failed at $n lines, round $r (exit $rc): $*"
  echo "$wall $cpu $rss"
}

median() { sort -g | awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

mkdir -p bench/results
declare -A med
rows_a=() rows_b=() rows_c=() rows_d=()
for n in "${sizes[@]}"; do
  dir=bench/work/$n
  rm -rf "$dir"
  mkdir -p "$dir"
  echo "close.sh: generating $n lines, $partners partners into $dir" >&2
  "$build/tools/payrun-gen" --partners "$partners" --lines "$n" --period "$period" --seed 1 --dir "$dir"
  write_config "$dir" "$root/$build/plugins"
  csv="$root/$dir/attributions-$period.csv"
  # (d) reads the lines in the order of its key: partner (the 5th column),
  # then deal (the 1st). The generator writes no quoted fields, so a plain
  # sort keeps every row whole.
  ! grep -q '"' "$csv" || die "$csv has quoted fields; the sort for (d) would split them"
  sorted="$root/$dir/attributions-by-key.csv"
  { head -n 1 "$csv"; tail -n +2 "$csv" | LC_ALL=C sort -t, -k5,5 -k1,1; } >"$sorted"

  samples_a="" samples_b="" samples_c="" samples_d=""
  for r in $(seq "$rounds"); do
    rm -rf "$dir/run" && mkdir -p "$dir/run"
    a=$(run_one "payrun run close" "$n" "$r" \
          "$payrun" run close --period "$period" --config "$dir/payrun.yaml" --as alice)
    rm -f "$dir"/alternative.db* "$dir/payouts-sqlite.csv"
    b=$(cd "$dir" && run_one "sqlite3 bench/alternative.sql" "$n" "$r" \
          sqlite3 alternative.db ".read $root/bench/alternative.sql")
    rm -f "$dir"/floor.db*
    c=$(run_one "floor" "$n" "$r" "$floor" "$csv" "$root/$dir/floor.db")
    rm -f "$dir"/bound.db*
    d=$(run_one "floor --clustered" "$n" "$r" "$floor" --clustered "$sorted" "$root/$dir/bound.db")
    samples_a+="$a"$'\n' samples_b+="$b"$'\n' samples_c+="$c"$'\n' samples_d+="$d"$'\n'
    read -r aw ac ar <<<"$a"
    echo "close.sh: $n lines, round $r/$rounds: payrun wall $aw s cpu $ac s rss $((ar / 1024)) MiB;" \
         "wall sqlite3 ${b%% *} s, floor ${c%% *} s, bound ${d%% *} s" >&2
  done
  for x in a b c d; do
    v=samples_$x
    s=${!v}
    for col in 1 2 3; do
      med[$x,$col,$n]=$(printf '%s' "$s" | cut -d' ' -f"$col" | median)
    done
  done

  # What each produced, from its last round: a cross-check, not a timing.
  rows_a+=("$n: payrun payouts.csv $(($(wc -l <"$dir/run/out/bench/$period/payouts.csv") - 1)) payouts")
  rows_b+=("sqlite3 payouts-sqlite.csv $(($(wc -l <"$dir/payouts-sqlite.csv") - 1)) partner totals")
  rows_c+=("floor.db $(sqlite3 "$dir/floor.db" 'SELECT count(*) FROM lines') lines")
  rows_d+=("bound.db $(sqlite3 "$dir/bound.db" 'SELECT count(*) FROM lines') lines")
done

# The table: medians, ratios, payrun's time per line.
secs() { awk -v v="$1" 'BEGIN { printf "%8.2f", v }'; }
mib() { awk -v v="$1" 'BEGIN { printf "%8.1f", v / 1024 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%6.2f", a / b }'; }
per_line() { awk -v s="$1" -v n="$2" 'BEGIN { printf "%8.2f", s * 1e6 / n }'; }
{
  echo "payrun close benchmark: started $started, $(nproc) cores, payrun $commit (Release build)"
  echo "data: $partners partners, period $period, seed 1; median of $rounds interleaved rounds, each from a clean state"
  echo "(a) payrun run close: attribution_csv, commission_rules, approval_rules, export_csv, export_ledger, audit_jsonl"
  echo "(b) sqlite3 shell, bench/alternative.sql: .import of both CSVs, one aggregate query, CSV export"
  echo "(c) floor, bench/floor.c: libcsv parse + SQLite insert of every line, one statement, one transaction"
  echo "(d) bound, floor --clustered: (c) with a commission in each row, clustered by (org, period, partner, deal),"
  echo "    from the file sorted by that key (sort not timed): the least any close keeping its lines could take"
  echo "load average (1 5 15 min): $load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown) at the end"
  echo "wall and cpu (user + system) in seconds, peak RSS in MiB"
  echo
  printf '%10s | %-26s | %-26s | %-26s | %-26s | %-20s | %s\n' "" "(a) payrun" "(b) sqlite3" \
    "(c) floor" "(d) bound" "wall ratio" "payrun us/line"
  printf '%10s | %8s %8s %8s | %8s %8s %8s | %8s %8s %8s | %8s %8s %8s | %6s %6s %6s | %8s %8s\n' \
    lines wall cpu rss wall cpu rss wall cpu rss wall cpu rss a/b a/c d/b wall cpu
  for n in "${sizes[@]}"; do
    printf '%10s | %s %s %s | %s %s %s | %s %s %s | %s %s %s | %s %s %s | %s %s\n' "$n" \
      "$(secs "${med[a,1,$n]}")" "$(secs "${med[a,2,$n]}")" "$(mib "${med[a,3,$n]}")" \
      "$(secs "${med[b,1,$n]}")" "$(secs "${med[b,2,$n]}")" "$(mib "${med[b,3,$n]}")" \
      "$(secs "${med[c,1,$n]}")" "$(secs "${med[c,2,$n]}")" "$(mib "${med[c,3,$n]}")" \
      "$(secs "${med[d,1,$n]}")" "$(secs "${med[d,2,$n]}")" "$(mib "${med[d,3,$n]}")" \
      "$(ratio "${med[a,1,$n]}" "${med[b,1,$n]}")" "$(ratio "${med[a,1,$n]}" "${med[c,1,$n]}")" \
      "$(ratio "${med[d,1,$n]}" "${med[b,1,$n]}")" \
      "$(per_line "${med[a,1,$n]}" "$n")" "$(per_line "${med[a,2,$n]}" "$n")"
  done
  echo
  echo "targets (issue 6): at 1M lines a/b <= 0.6 (aim 0.5) and a/c <= 2; payrun peak RSS <= 64 MiB at 1M and 10M;"
  echo "us/line flat from 100k to 10M lines"
  echo "outputs of the last round:"
  for i in "${!sizes[@]}"; do
    echo "  ${rows_a[$i]}; ${rows_b[$i]}; ${rows_c[$i]}; ${rows_d[$i]}"
  done
} | tee "$results"
